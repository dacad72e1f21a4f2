"""A batch of story steps in one transaction writes exactly what one transaction per article does.

On Postgres a batch holds its writes back and answers its reads from the tables plus what it
holds (``worker/stories/sql_writes.py``); these tests replay one stream of articles into two
databases, one step per transaction in the first and in batches of several sizes in the
second, and compare every row the story step writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from models import Article, Change, Story
from models import session_scope as scope
from models.story_state import ArticleBand, ArticleSketch, StoryProfile, StoryTerm, TermStat
from tests.worker.dedupe.test_minhash import syndicated_copy
from tests.worker.stories.test_step import T0, add_article
from tests.worker.stories.texts import (
    BRIDGE_LOCAL,
    BRIDGE_LOCAL_TITLE,
    BRIDGE_WIRE,
    BRIDGE_WIRE_TITLE,
    FILLER,
    OTHER_BRIDGE,
    OTHER_BRIDGE_TITLE,
    STRIKE,
    STRIKE_TITLE,
    VISIT_A,
    VISIT_A_TITLE,
    VISIT_B,
    VISIT_B_TITLE,
)
from worker.dedupe import content_hash
from worker.stories import DEFAULT_CONFIG, StoryConfig
from worker.stories.index import StoryDoc, StoryState
from worker.stories.sql import SqlStoryIndex
from worker.stories.sql_batch import _overlapped as _overlapped  # a private helper, tested alone
from worker.stories.step import (
    Prepared,
    assign_stories,
    prepare_features,
    record_story_failure,
    reset_story_failures,
    unassigned_articles,
    waiting_docs,
)

# (title, text, hours after T0, site, index in the stream of the article it is marked a copy of)
Item = tuple[str | None, str, float, str, int | None]

_FILLER: list[Item] = [(t, x, -48.0, "filler.example", None) for t, x in FILLER]
_N = len(_FILLER)
# Every layer, in one stream: new stories, joins, a syndicated copy, a text-hash copy, a copy
# the text step marked (its original later in the same batch), a copy published before its
# original (it becomes the original), a copy of that copy, and stories leaving the window.
EVERY_LAYER: list[Item] = [
    *_FILLER,
    (BRIDGE_WIRE_TITLE, BRIDGE_WIRE, 0.0, "wire.example", None),
    (BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 3.0, "local.example", None),
    ("Same text", BRIDGE_LOCAL, 3.5, "mirror.example", None),
    (OTHER_BRIDGE_TITLE, OTHER_BRIDGE, 4.0, "wire.example", None),
    ("Marked", OTHER_BRIDGE, 4.5, "marked.example", _N + 3),
    (VISIT_A_TITLE, VISIT_A, 5.0, "daily.example", None),
    (STRIKE_TITLE, STRIKE, 20.0, "wire.example", None),
    ("Copy", syndicated_copy(BRIDGE_WIRE, keep=0.7, edit_rate=0.03), 21.0, "copy.example", None),
    ("Early", syndicated_copy(STRIKE, keep=0.8, edit_rate=0.02, seed=4), 18.0, "e.example", None),
    ("Late", syndicated_copy(STRIKE, keep=0.75, edit_rate=0.02, seed=9), 22.0, "l.example", None),
    (VISIT_B_TITLE, VISIT_B, 30.0, "wire.example", None),
    (BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL + "\n\nMore searching.", 160.0, "local.example", None),
]
_HALVES = BRIDGE_WIRE.split("\n\n")
# Two halves of one report open two stories; a third report joins one and they merge.
WITH_MERGES: list[Item] = [
    *_FILLER,
    (None, "\n\n".join(_HALVES[:2]), 0.0, "a.example", None),
    (None, "\n\n".join(_HALVES[2:]), 1.0, "b.example", None),
    (BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 2.0, "local.example", None),
    ("Copy", syndicated_copy(BRIDGE_LOCAL, keep=0.7, edit_rate=0.03), 3.0, "c.example", None),
    (VISIT_A_TITLE, VISIT_A, 4.0, "daily.example", None),
    (VISIT_B_TITLE, VISIT_B, 5.0, "wire.example", None),
]
MERGING = DEFAULT_CONFIG.with_(join_threshold=0.5, merge_threshold=0.45)


def load(sessions: sessionmaker[Session], stream: Sequence[Item]) -> list[int]:
    ids: list[int] = []
    for title, text, hours, site, copy_of in stream:
        original = ids[copy_of] if copy_of is not None else None
        ids.append(
            add_article(sessions, title, text, hours=hours, site=site, duplicate_of=original)
        )
    return ids


def replay(
    sessions: sessionmaker[Session], ids: list[int], sizes: Sequence[int], config: StoryConfig
) -> list[tuple[int, int | None, str] | None]:
    results: list[tuple[int, int | None, str] | None] = []
    start = 0
    while start < len(ids):
        size = sizes[len(results) % len(sizes)] if sizes else len(ids)
        batch = ids[start : start + size]
        with scope(sessions) as s:
            for r in assign_stories(s, batch, config):
                results.append(None if r is None else (r.story_id, r.duplicate_of, r.method))
        start += size
    return results


def replay_preparing(
    sessions: sessionmaker[Session], ids: list[int], sizes: Sequence[int], config: StoryConfig
) -> list[tuple[int, int | None, str] | None]:
    """``replay``, each next batch's features computed while the one before is written (as
    the worker's backlog drain does) and passed to it."""
    results: list[tuple[int, int | None, str] | None] = []
    batches: list[list[int]] = []
    start = 0
    while start < len(ids):
        size = sizes[len(batches) % len(sizes)]
        batches.append(ids[start : start + size])
        start += size
    prepared: dict[int, Prepared] = {}
    used = 0
    for n, batch in enumerate(batches):
        used += len(prepared)
        upcoming: dict[int, Prepared] = {}
        with scope(sessions) as s:
            docs = waiting_docs(s, batches[n + 1]) if n + 1 < len(batches) else []

            def prepare(docs: list[StoryDoc] = docs, out: dict[int, Prepared] = upcoming) -> None:
                out.update(prepare_features(docs, config))

            for r in assign_stories(s, batch, config, prepared=prepared, meanwhile=prepare):
                results.append(None if r is None else (r.story_id, r.duplicate_of, r.method))
        prepared = upcoming
    assert used > len(batches)  # features were prepared and handed on, most batches
    return results


def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the story step writes (times of writing left out)."""
    columns: dict[str, Sequence[Any]] = {
        "articles": (Article.id, Article.story_id, Article.duplicate_of, Article.content_hash),
        "stories": (
            Story.id,
            Story.headline,
            Story.first_published_at,
            Story.last_published_at,
            Story.article_count,
            Story.outlet_count,
            Story.keywords,
            Story.language,
            Story.merged_into,
        ),
        "profiles": (
            StoryProfile.story_id,
            StoryProfile.phrases,
            StoryProfile.outlets,
            StoryProfile.centroid,
        ),
        "postings": (StoryTerm.story_id, StoryTerm.term, StoryTerm.weight),
        "terms": (TermStat.term, TermStat.df),
        "sketches": (
            ArticleSketch.article_id,
            ArticleSketch.signature,
            ArticleSketch.shingles,
            ArticleSketch.published_at,
        ),
        "bands": (ArticleBand.band_key, ArticleBand.article_id),
        "changes": (Change.id, Change.kind, Change.entity_id, Change.payload),
    }
    with scope(sessions) as s:
        return {
            name: [tuple(row) for row in s.execute(select(*cols).order_by(*cols[:3]))]
            for name, cols in columns.items()
        }


@pytest.mark.parametrize(
    ("stream", "config"),
    [(EVERY_LAYER, DEFAULT_CONFIG), (WITH_MERGES, MERGING)],
    ids=["every-layer", "with-merges"],
)
@pytest.mark.parametrize("sizes", [(3, 1, 5, 2), (4,), ()], ids=["mixed", "fours", "one-batch"])
def test_a_batch_writes_what_single_steps_write(
    two_databases: tuple[sessionmaker[Session], sessionmaker[Session]],
    stream: list[Item],
    config: StoryConfig,
    sizes: tuple[int, ...],
) -> None:
    single, batched = two_databases
    ids = load(single, stream)
    assert load(batched, stream) == ids
    expected = replay(single, ids, [1], config)
    assert replay(batched, ids, sizes, config) == expected
    methods = {r[2] for r in expected if r is not None}
    # The stream did reach every layer (else the comparison would prove less than it says).
    assert methods == (
        {"new", "similar", "near", "exact"}
        if config is DEFAULT_CONFIG
        else {"new", "similar", "near"}
    )
    before = snapshot(single)
    after = snapshot(batched)
    for table in before:
        assert after[table] == before[table], table
    if config is MERGING:
        assert any(row[-1] is not None for row in before["stories"])  # a merge happened
    else:
        duplicates = {row[0]: row[2] for row in before["articles"]}
        assert duplicates[ids[_N + 8]] is None  # the early copy became the original ...
        assert duplicates[ids[_N + 6]] == ids[_N + 8]  # ... of the wire text it copies
        assert duplicates[ids[_N + 9]] == ids[_N + 8]
        assert duplicates[ids[_N + 4]] == ids[_N + 3]  # marked by the text step


@pytest.mark.parametrize(
    ("stream", "config"),
    [(EVERY_LAYER, DEFAULT_CONFIG), (WITH_MERGES, MERGING)],
    ids=["every-layer", "with-merges"],
)
def test_features_prepared_during_the_write_change_nothing(
    two_databases: tuple[sessionmaker[Session], sessionmaker[Session]],
    stream: list[Item],
    config: StoryConfig,
) -> None:
    single, batched = two_databases
    ids = load(single, stream)
    assert load(batched, stream) == ids
    expected = replay(single, ids, [1], config)
    assert replay_preparing(batched, ids, (3, 1, 5, 2), config) == expected
    before, after = snapshot(single), snapshot(batched)
    for table in before:
        assert after[table] == before[table], table


def test_prepared_features_are_used_only_for_the_text_they_were_computed_from(
    sessions: sessionmaker[Session],
) -> None:
    visit, strike = load(
        sessions,
        [
            (VISIT_A_TITLE, VISIT_A, 0.0, "a.example", None),
            (STRIKE_TITLE, STRIKE, 1.0, "b.example", None),
        ],
    )
    with scope(sessions) as s:
        docs = {d.id: d for d in waiting_docs(s, [visit, strike, 999_999])}
    assert set(docs) == {visit, strike}  # the missing id is left out
    strike_features = prepare_features([docs[strike]])[strike][1]
    # The step writes the hash it was given as the article's content hash: the strike's
    # features under the visit's id are used while the visit's inputs are the ones given ...
    with scope(sessions) as s:
        assign_stories(s, [visit], prepared={visit: (docs[visit], strike_features)})
        row = s.get(Article, visit)
        assert row is not None and row.content_hash == content_hash(STRIKE)
        s.rollback()
    # ... and not when they came from another text.
    stale = replace(docs[visit], text=STRIKE)
    with scope(sessions) as s:
        assign_stories(s, [visit], prepared={visit: (stale, strike_features)})
        row = s.get(Article, visit)
        assert row is not None and row.content_hash == content_hash(VISIT_A)


def test_the_held_write_runs_while_meanwhile_does(sessions: sessionmaker[Session]) -> None:
    (visit,) = load(sessions, [(VISIT_A_TITLE, VISIT_A, 0.0, "a.example", None)])
    # Which thread sends each statement; on Postgres ``meanwhile`` waits until the held write
    # has been sent from another thread, so it cannot pass unless the two overlap (a look at
    # the running threads instead missed a one-article write that was already over).
    senders: list[str] = []
    write_sent = threading.Event()

    def sent(*_args: Any) -> None:
        senders.append(threading.current_thread().name)
        if threading.current_thread() is not threading.main_thread():
            write_sent.set()

    ran: list[bool] = []
    with scope(sessions) as s:
        postgres = s.get_bind().dialect.name == "postgresql"

        def meanwhile() -> None:
            ran.append(write_sent.wait(timeout=60) if postgres else True)

        engine = s.get_bind()
        event.listen(engine, "before_cursor_execute", sent)
        try:
            (done,) = assign_stories(s, [visit], meanwhile=meanwhile)
        finally:
            event.remove(engine, "before_cursor_execute", sent)
    assert done is not None and done.new_story
    assert ran == [True]  # it ran once, on either backend (on Postgres, during the write)
    # Postgres holds the writes back and sends them in a thread of their own meanwhile;
    # SQLite wrote as it went, from this thread.
    assert ("storywire-story-write" in senders) == postgres


def test_an_overlapped_write_raises_after_meanwhile_is_over() -> None:
    order: list[str] = []

    def failing_write() -> None:
        order.append("write")
        raise ValueError("the server said no")

    with pytest.raises(ValueError, match="the server said no"):
        _overlapped(failing_write, lambda: order.append("meanwhile"))
    assert sorted(order) == ["meanwhile", "write"]

    def failing_meanwhile() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        _overlapped(lambda: order.append("second write"), failing_meanwhile)
    assert order[-1] == "second write"  # joined before the error went up


def test_an_interrupt_waits_for_the_write_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    # A soft time limit or a shutdown signal arriving while the main thread waits for the
    # writer (a fault produced here by a join that is interrupted once).
    real_join = threading.Thread.join
    interrupts = [KeyboardInterrupt()]

    def join(self: threading.Thread, timeout: float | None = None) -> None:
        if interrupts:
            raise interrupts.pop()
        real_join(self, timeout)

    monkeypatch.setattr(threading.Thread, "join", join)
    finished: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _overlapped(lambda: (time.sleep(0.2), finished.append("write")), lambda: None)
    assert finished == ["write"]  # the interrupt went up only once the write was over


def test_one_article_twice_in_a_batch_is_assigned_once(
    two_databases: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    sessions, _ = two_databases
    ids = load(sessions, EVERY_LAYER[_N : _N + 2])
    with scope(sessions) as s:
        first, again, second = assign_stories(s, [ids[0], ids[0], ids[1]])
    assert first is not None and again is not None and second is not None
    assert (again.story_id, again.method) == (first.story_id, "done")
    assert second.story_id == first.story_id
    with scope(sessions) as s:
        created = s.scalars(select(Change.entity_id).where(Change.kind == "story.created")).all()
    assert created == [first.story_id]


def test_unassigned_articles_oldest_report_first(
    two_databases: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    sessions, _ = two_databases
    late, early, middle = load(
        sessions,
        [
            (None, "late", 5.0, "x.example", None),
            (None, "early", 1.0, "x.example", None),
            (None, "middle", 3.0, "x.example", None),
        ],
    )
    with scope(sessions) as s:
        assert unassigned_articles(s, 10) == [early, middle, late]
        assert unassigned_articles(s, 1) == [early]
        # The article a task was sent for is always in its batch, in place of the newest other.
        assert unassigned_articles(s, 1, include=late) == [late]
        assert unassigned_articles(s, 2, include=late) == [early, late]
        assert unassigned_articles(s, 2, include=early) == [early, middle]
        assign_stories(s, [early])
        assert unassigned_articles(s, 10) == [middle, late]


def test_unassigned_articles_leave_out_those_that_failed(
    two_databases: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    sessions, _ = two_databases
    failed, waiting = load(
        sessions,
        [(None, "failed", 1.0, "x.example", None), (None, "waiting", 2.0, "y.example", None)],
    )
    with scope(sessions) as s:
        assert record_story_failure(s, failed, "RuntimeError: a bug")
    with scope(sessions) as s:
        assert unassigned_articles(s, 10) == [waiting]
        # Not even as the task's own article: that task assigns it alone.
        assert unassigned_articles(s, 10, include=failed) == [waiting]
        assert reset_story_failures(s, [waiting]) == 0  # nothing to forget
        assert reset_story_failures(s) == 1
        assert unassigned_articles(s, 10) == [failed, waiting]
        assign_stories(s, [waiting])
        assert not record_story_failure(s, waiting, "too late")  # it has its story
    with scope(sessions) as s:
        row = s.get(Article, waiting)
        assert row is not None and (row.story_error, row.story_attempts) == (None, 0)


def test_postings_held_back_answer_like_the_table(
    two_databases: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    # A story's terms leave, come back with another weight and leave again within one batch:
    # the candidate lookup sees each state at once, and the table ends in the last one.
    sessions, _ = two_databases
    when = T0
    with scope(sessions) as s:
        index = SqlStoryIndex(s)
        story = index.create_story(StoryState(0, {"ash": 1.0, "elm": 1.0}, when, when, 1))
        index.flush()

        def found(term: str) -> list[int]:
            return [c.id for c in index.candidate_stories({term: 1.0}, None)]

        def weights() -> dict[str, float]:
            scored = index._postings(["ash", "elm"], None)
            return {term: weight for _story, term, weight in scored}

        story.centroid = {"elm": 1.0}
        index.save_story(story)
        assert found("ash") == [] and found("elm") == [story.id]
        story.centroid = {"ash": 3.0, "elm": 1.0}
        index.save_story(story)
        assert weights() == {"ash": 3.0, "elm": 1.0}
        index.flush()
        assert weights() == {"ash": 3.0, "elm": 1.0}
        story.centroid = {"elm": 1.0}
        index.save_story(story)
        story.centroid = {"ash": 2.0, "elm": 1.0}
        index.save_story(story)
        story.centroid = {"elm": 1.0, "oak": 0.5}
        index.save_story(story)
        assert found("ash") == [] and found("oak") == [story.id]
        index.flush()
    with scope(sessions) as s:
        rows = s.execute(select(StoryTerm.term, StoryTerm.weight).order_by(StoryTerm.term)).all()
    assert [tuple(r) for r in rows] == [("elm", 1.0), ("oak", 0.5)]


def test_merges_repoint_stored_and_held_rows_alike(
    two_databases: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    # B has articles in the table (its own and those of C, merged into it earlier) and one
    # held back; D, new in the same batch, is merged into B before B is merged into A. Every
    # article ends in A, every merged story points at A, none keeps postings.
    sessions, _ = two_databases
    texts = ["a one", "b one", "c one", "b two", "d one"]
    a1, b1, c1, b2, d1 = (add_article(sessions, None, t, hours=i) for i, t in enumerate(texts))

    def new(index: SqlStoryIndex, hours: float, term: str, article: int) -> int:
        when = T0 + timedelta(hours=hours)
        state = index.create_story(StoryState(0, {term: 1.0}, when, when, 1))
        index.attach(StoryDoc(article, None, term), state.id, None, None)
        return state.id

    with scope(sessions) as s:
        index = SqlStoryIndex(s)
        a, b, c = new(index, 0, "ash", a1), new(index, 1, "elm", b1), new(index, 2, "oak", c1)
        index.merge(b, c)
        index.finish()
    with scope(sessions) as s:
        index = SqlStoryIndex(s)
        index.attach(StoryDoc(b2, None, "b two"), b, None, None)
        d = new(index, 3, "yew", d1)
        index.merge(b, d)
        index.merge(a, b)
        assert [index.story(x).id for x in (b, c, d)] == [a, a, a]
        ref = index.article(b2)
        assert ref is not None and ref.story_id == a
        index.finish()
    with scope(sessions) as s:
        articles = {r[0]: r[1] for r in s.execute(select(Article.id, Article.story_id))}
        stories = {r[0]: r[1] for r in s.execute(select(Story.id, Story.merged_into))}
        postings = set(s.scalars(select(StoryTerm.story_id)))
        merged = s.execute(
            select(Change.entity_id, Change.payload)
            .where(Change.kind == "story.merged")
            .order_by(Change.id)
        ).all()
        moved = s.scalars(
            select(Change.entity_id)
            .where(
                Change.kind == "article.updated", Change.payload["method"].as_string() == "merge"
            )
            .order_by(Change.id)
        ).all()
    assert articles == dict.fromkeys((a1, b1, c1, b2, d1), a)
    assert stories == {a: None, b: a, c: a, d: a}
    assert postings == {a}
    assert [(e, p["merged_into"], p["articles"]) for e, p in merged] == [
        (c, b, 1),
        (d, b, 1),
        (b, a, 4),
    ]
    assert moved == [c1, d1, b1, c1, b2, d1]
