"""The story step on a real database (SQLite and PostgreSQL): state, outbox, restart, locking."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from models import Article, ArticleStatus, Change, Story, make_engine, session_factory
from models import session_scope as scope
from models.story_state import ArticleBand, ArticleSketch, StoryProfile, StoryTerm, TermStat
from tests.support.services import migrate
from tests.worker.dedupe.test_minhash import syndicated_copy
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
from worker.stories import DEFAULT_CONFIG, InMemoryStoryIndex, StoryDoc, assign
from worker.stories.index import DEFAULT_POSTING_TERMS, posting_terms
from worker.stories.step import assign_stories
from worker.stories.terms import DEFAULT_TERM_TEXT_CHARS

T0 = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)


def add_article(
    sessions: sessionmaker[Session],
    title: str | None,
    text: str,
    *,
    hours: float = 0.0,
    site: str = "example.org",
    duplicate_of: int | None = None,
) -> int:
    with scope(sessions) as s:
        n = (s.scalar(select(func.count()).select_from(Article)) or 0) + 1
        article = Article(
            canonical_url=f"https://{site}/story-{n}",
            url=f"https://{site}/story-{n}",
            title=title,
            text=text,
            published_at=T0 + timedelta(hours=hours),
            site_name=site,
            status=ArticleStatus.OK,
            content_hash=content_hash(text),
            duplicate_of=duplicate_of,
        )
        s.add(article)
        s.flush()
        return article.id


def run(sessions: sessionmaker[Session], article_id: int) -> tuple[int, int | None, str]:
    with scope(sessions) as s:
        result = assign_stories(s, [article_id])[0]
        assert result is not None
        return result.story_id, result.duplicate_of, result.method


def seed_filler(sessions: sessionmaker[Session]) -> None:
    for title, text in FILLER:
        run(sessions, add_article(sessions, title, text, hours=-48, site="filler.example"))


STREAM = [
    (BRIDGE_WIRE_TITLE, BRIDGE_WIRE, 0.0, "wire.example"),
    (BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 3.0, "local.example"),
    (OTHER_BRIDGE_TITLE, OTHER_BRIDGE, 4.0, "wire.example"),
    (VISIT_A_TITLE, VISIT_A, 5.0, "daily.example"),
    (STRIKE_TITLE, STRIKE, 20.0, "wire.example"),
    ("Copy", syndicated_copy(BRIDGE_WIRE, keep=0.7, edit_rate=0.03), 21.0, "copy.example"),
    (VISIT_B_TITLE, VISIT_B, 30.0, "wire.example"),
]


def test_same_assignments_as_the_in_memory_index(sessions: sessionmaker[Session]) -> None:
    seed_filler(sessions)
    memory = InMemoryStoryIndex()
    for i, (title, text) in enumerate(FILLER):
        assign(memory, StoryDoc(i + 1, title, text, T0 - timedelta(hours=48)), DEFAULT_CONFIG)
    sql_stories, mem_stories = [], []
    for title, text, hours, site in STREAM:
        article_id = add_article(sessions, title, text, hours=hours, site=site)
        sql_stories.append(run(sessions, article_id)[:2])
        mem = assign(memory, StoryDoc(article_id, title, text, T0 + timedelta(hours=hours)))
        mem_stories.append((mem.story_id, mem.duplicate_of))
    assert sql_stories == mem_stories
    wire, local, other, visit_a, strike, copy, visit_b = sql_stories
    assert local[0] == wire[0] and copy[0] == wire[0]
    assert copy[1] is not None  # a syndicated copy of the wire story
    assert visit_b[0] == visit_a[0]
    assert len({wire[0], other[0], visit_a[0], strike[0]}) == 4


def test_rows_and_outbox(sessions: sessionmaker[Session]) -> None:
    wire = add_article(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, site="wire.example")
    story_id, _, method = run(sessions, wire)
    assert method == "new"
    local = add_article(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=2, site="local.example")
    copy_text = syndicated_copy(BRIDGE_WIRE, keep=0.7, edit_rate=0.03)
    copy = add_article(sessions, "Copy", copy_text, hours=3, site="copy.example")
    assert run(sessions, local)[0] == story_id
    assert run(sessions, copy) == (story_id, wire, "near")
    with scope(sessions) as s:
        story = s.get(Story, story_id)
        assert story is not None
        assert story.headline == BRIDGE_WIRE_TITLE
        assert story.article_count == 3
        assert story.outlet_count == 3
        assert story.first_published_at == T0
        assert story.last_published_at == T0 + timedelta(hours=3)
        assert "Tamsin River" in story.keywords
        assert s.get(Article, copy).duplicate_of == wire  # type: ignore[union-attr]
        assert s.scalar(select(func.count()).select_from(StoryTerm)) == len(
            s.scalars(select(StoryTerm.term).where(StoryTerm.story_id == story_id)).all()
        )
        # Only originals are sketched: the copy matches its original, it adds no bands.
        assert set(s.scalars(select(ArticleSketch.article_id))) == {wire, local}
        assert s.scalar(select(func.count(func.distinct(ArticleBand.article_id)))) == 2
        assert s.scalar(select(TermStat.df).where(TermStat.term == "")) == 2
        kinds = [(c.kind, c.entity_id) for c in s.scalars(select(Change).order_by(Change.id))]
    assert kinds == [
        ("story.created", story_id),
        ("article.updated", wire),
        ("story.updated", story_id),
        ("article.updated", local),
        ("story.updated", story_id),
        ("article.updated", copy),
        ("article.duplicate", copy),
    ]


def test_redelivery_changes_nothing(sessions: sessionmaker[Session]) -> None:
    wire = add_article(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    first = run(sessions, wire)
    with scope(sessions) as s:
        changes = s.scalar(select(func.count()).select_from(Change))
    assert run(sessions, wire)[0] == first[0]
    with scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Change)) == changes
        assert s.scalar(select(func.count()).select_from(Story)) == 1


def test_a_huge_text_adds_the_terms_of_its_lead_only(sessions: sessionmaker[Session]) -> None:
    # A report followed by half a megabyte of distinct words (a broken or hostile page;
    # extraction keeps 500,000 characters): read whole, it would add 60,000 term_stats rows.
    junk = " ".join(f"zq{n:05d}" for n in range(60_000))  # 8 characters a word, with its space
    with scope(sessions) as s:
        before = s.scalar(select(func.count()).select_from(TermStat)) or 0
    huge = add_article(sessions, BRIDGE_LOCAL_TITLE, f"{BRIDGE_LOCAL}\n{junk}", hours=3.0)
    assert run(sessions, huge)[2] == "new"
    with scope(sessions) as s:
        added = (s.scalar(select(func.count()).select_from(TermStat)) or 0) - before
    # At most the junk words within the limit, plus the real report's own words.
    assert added < DEFAULT_TERM_TEXT_CHARS // 8 + 500


def test_pending_or_missing_article_is_not_assigned(sessions: sessionmaker[Session]) -> None:
    with scope(sessions) as s:
        s.add(Article(canonical_url="https://x.example/p", url="https://x.example/p"))
        s.flush()
        pending = s.scalar(select(Article.id))
        assert pending is not None
        assert assign_stories(s, [pending])[0] is None
        assert assign_stories(s, [999_999])[0] is None


def test_state_survives_a_restart(db_url: str) -> None:
    # Everything the assigner needs is in the database: a new engine (a restarted worker)
    # continues where the old one stopped.
    first = make_engine(db_url)
    sessions = session_factory(first)
    seed_filler(sessions)
    wire = add_article(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    story_id = run(sessions, wire)[0]
    first.dispose()
    second = make_engine(db_url)
    try:
        sessions = session_factory(second)
        local = add_article(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=2)
        copy = add_article(sessions, None, syndicated_copy(BRIDGE_WIRE, keep=0.8, edit_rate=0.02))
        assert run(sessions, local)[0] == story_id
        assert run(sessions, copy) == (story_id, wire, "near")
    finally:
        second.dispose()


def test_exact_copy_marked_by_the_text_step_joins_the_original(
    sessions: sessionmaker[Session],
) -> None:
    wire = add_article(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, site="wire.example")
    story_id = run(sessions, wire)[0]
    copy = add_article(sessions, "Same", BRIDGE_WIRE, hours=1, site="b.example", duplicate_of=wire)
    assert run(sessions, copy) == (story_id, wire, "exact")
    with scope(sessions) as s:
        story = s.get(Story, story_id)
        assert story is not None and story.article_count == 2 and story.outlet_count == 2


def test_merge_repoints_articles_and_writes_the_outbox(sessions: sessionmaker[Session]) -> None:
    config = DEFAULT_CONFIG.with_(join_threshold=0.5, merge_threshold=0.45)
    paragraphs = BRIDGE_WIRE.split("\n\n")
    halves = ["\n\n".join(paragraphs[:2]), "\n\n".join(paragraphs[2:])]
    for title, text in FILLER:
        article_id = add_article(sessions, title, text, hours=-48)
        with scope(sessions) as s:
            assign_stories(s, [article_id], config)[0]
    ids = [add_article(sessions, None, h, hours=i) for i, h in enumerate(halves)]
    ids.append(add_article(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=2))
    results = []
    for article_id in ids:
        with scope(sessions) as s:
            result = assign_stories(s, [article_id], config)[0]
            assert result is not None
            results.append(result)
    a, b, c = results
    assert a.story_id != b.story_id
    assert c.story_id == a.story_id and c.merged == (b.story_id,)
    with scope(sessions) as s:
        gone = s.get(Story, b.story_id)
        assert gone is not None and gone.merged_into == a.story_id
        assert {x.story_id for x in s.scalars(select(Article).where(Article.id.in_(ids)))} == {
            a.story_id
        }
        kept = s.get(Story, a.story_id)
        assert kept is not None and kept.article_count == 3
        assert not s.scalars(select(StoryTerm).where(StoryTerm.story_id == b.story_id)).all()
        merged = s.scalars(select(Change).where(Change.kind == "story.merged")).all()
        assert [(m.entity_id, m.payload["merged_into"]) for m in merged] == [
            (b.story_id, a.story_id)
        ]
        moved = s.scalars(
            select(Change).where(Change.kind == "article.updated", Change.entity_id == ids[1])
        ).all()
        assert [m.payload["story_id"] for m in moved] == [b.story_id, a.story_id]


def postings_by_story(s: Session) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for story_id, term in s.execute(select(StoryTerm.story_id, StoryTerm.term)):
        found.setdefault(story_id, set()).add(term)
    return found


def test_postings_mirror_each_live_centroid(sessions: sessionmaker[Session]) -> None:
    # The index keeps the terms a story holds in memory within an assignment and writes the
    # postings by difference: after joins, a copy and a merge, every live story's postings must
    # still be exactly its stored centroid's heaviest terms, and a merged story must have none.
    config = DEFAULT_CONFIG.with_(join_threshold=0.5, merge_threshold=0.45)
    paragraphs = BRIDGE_WIRE.split("\n\n")
    texts = [
        *FILLER,
        (None, "\n\n".join(paragraphs[:2])),
        (None, "\n\n".join(paragraphs[2:])),
        (BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL),
        ("Copy", syndicated_copy(BRIDGE_LOCAL, keep=0.7, edit_rate=0.03)),
        (VISIT_A_TITLE, VISIT_A),
        (VISIT_B_TITLE, VISIT_B),
    ]
    for hours, (title, text) in enumerate(texts):
        with scope(sessions) as s:
            assert assign_stories(s, [add_article(sessions, title, text, hours=hours)], config)[0]
    with scope(sessions) as s:
        stories = {st.id: st.merged_into for st in s.scalars(select(Story))}
        centroids = dict(s.execute(select(StoryProfile.story_id, StoryProfile.centroid)).all())
        postings = postings_by_story(s)
    assert any(merged is not None for merged in stories.values())  # a merge happened
    # Some story has more centroid terms than postings, so the cut is exercised too.
    assert any(len(c) > DEFAULT_POSTING_TERMS for c in centroids.values())
    for story_id, merged_into in stories.items():
        expected = set() if merged_into is not None else set(posting_terms(centroids[story_id]))
        assert postings.get(story_id, set()) == expected, story_id


def test_concurrent_workers_open_one_story_for_one_event(pg_url: str) -> None:
    # Four workers assign four reports of one event at the same instant. Without the lock each
    # would see no story yet and open its own.
    migrate(pg_url)
    engine = make_engine(pg_url, pool_size=8)
    try:
        sessions = session_factory(engine)
        seed_filler(sessions)
        texts = [
            (BRIDGE_WIRE_TITLE, BRIDGE_WIRE),
            (BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL),
            ("Copy one", syndicated_copy(BRIDGE_WIRE, keep=0.75, edit_rate=0.02, seed=5)),
            ("Copy two", syndicated_copy(BRIDGE_LOCAL, keep=0.8, edit_rate=0.02, seed=6)),
        ]
        ids = [add_article(sessions, t, x, hours=i * 0.1) for i, (t, x) in enumerate(texts)]
        barrier = threading.Barrier(len(ids))
        errors: list[BaseException] = []

        def work(article_id: int) -> None:
            try:
                with scope(sessions) as s:
                    s.connection()  # the transaction is open before the race starts
                    barrier.wait(timeout=30)
                    assign_stories(s, [article_id])[0]
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)  # only fails a hung worker
            assert not t.is_alive()
        assert not errors
        with scope(sessions) as s:
            stories = set(s.scalars(select(Article.story_id).where(Article.id.in_(ids))))
            assert len(stories) == 1
            # And the copies were recognized as copies of the earliest-published original,
            # whatever order the workers got the lock in.
            originals = {
                a.id: a.duplicate_of for a in s.scalars(select(Article).where(Article.id.in_(ids)))
            }
            wire, local, copy_one, copy_two = ids
            assert originals == {wire: None, local: None, copy_one: wire, copy_two: local}
            created = s.scalars(select(Change).where(Change.kind == "story.created")).all()
            assert len(created) == len(FILLER) + 1
    finally:
        engine.dispose()


def failed_page(sessions: sessionmaker[Session], title: str, summary: str, hours: float) -> int:
    """An article whose page failed: the feed's summary is its text (as the article step
    stores it), hashed as any text."""
    article_id = add_article(sessions, title, summary, hours=hours, site="feed.example")
    with scope(sessions) as s:
        article = s.get(Article, article_id)
        assert article is not None
        article.status = ArticleStatus.FAILED
    return article_id


def test_failed_pages_with_the_same_generic_summary_are_not_copies(
    sessions: sessionmaker[Session],
) -> None:
    seed_filler(sessions)
    first = failed_page(sessions, BRIDGE_WIRE_TITLE, "Read more…", 0.0)
    second = failed_page(sessions, STRIKE_TITLE, "Read more…", 1.0)
    _, _, _ = run(sessions, first)
    story, original, method = run(sessions, second)
    assert original is None and method != "exact"
    assert story != run(sessions, first)[0]
    with scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(ArticleSketch)) == len(FILLER)


def test_an_extracted_page_is_not_a_copy_of_a_failed_one(sessions: sessionmaker[Session]) -> None:
    failed = failed_page(sessions, STRIKE_TITLE, BRIDGE_WIRE, 0.0)
    run(sessions, failed)
    extracted = add_article(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=1.0)
    assert run(sessions, extracted)[1] is None
