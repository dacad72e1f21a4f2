"""Refinement on a real database (SQLite and PostgreSQL): stable ids, splits, merges,
hysteresis, concurrent assignment and a refinement killed halfway."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Article, Change, Story, make_engine, session_factory
from models import session_scope as scope
from models.story_state import StoryProfile, StoryTerm
from tests.worker.stories.test_step import add_article, run, seed_filler
from tests.worker.stories.texts import (
    BRIDGE_LOCAL,
    BRIDGE_LOCAL_TITLE,
    BRIDGE_WIRE,
    BRIDGE_WIRE_TITLE,
    STRIKE,
    STRIKE_TITLE,
    VISIT_A,
    VISIT_A_TITLE,
    VISIT_B,
    VISIT_B_TITLE,
)
from worker.stories import DEFAULT_CONFIG
from worker.stories.refine import RefineReport, refine_stories
from worker.stories.refine_read import read_window
from worker.stories.step import assign_stories

WINDOW = timedelta(days=30)


def refine(sessions: Callable[[], Session]) -> RefineReport:
    return refine_stories(sessions, window=WINDOW)  # type: ignore[arg-type]


def story_of(sessions: sessionmaker[Session], article_id: int) -> int:
    with scope(sessions) as s:
        found = s.get(Article, article_id)
        assert found is not None and found.story_id is not None
        return found.story_id


Changes = list[tuple[str, int, dict[str, Any]]]


def changes(sessions: sessionmaker[Session], after: int = 0) -> Changes:
    with scope(sessions) as s:
        rows = s.execute(
            select(Change.kind, Change.entity_id, Change.payload)
            .where(Change.id > after)
            .order_by(Change.id)
        ).all()
    return [(k, e, p) for k, e, p in rows]


def last_change(sessions: sessionmaker[Session]) -> int:
    with scope(sessions) as s:
        return int(s.scalar(select(func.max(Change.id))) or 0)


def alone(sessions: sessionmaker[Session], title: str, text: str, hours: float, site: str) -> int:
    """An article the online step put in a story of its own (as a missed join would)."""
    article_id = add_article(sessions, title, text, hours=hours, site=site)
    with scope(sessions) as s:
        assign_stories(s, [article_id], DEFAULT_CONFIG.with_(join_threshold=float("inf")))
    return article_id


def consistent(sessions: sessionmaker[Session]) -> None:
    """Every article in a live story; each live story's count and postings match its members."""
    with scope(sessions) as s:
        live = dict(
            s.execute(
                select(Story.id, Story.article_count).where(Story.merged_into.is_(None))
            ).all()
        )
        members = dict(
            s.execute(select(Article.story_id, func.count()).group_by(Article.story_id)).all()
        )
        assert set(members) <= set(live)
        for story_id, count in members.items():
            assert live[story_id] == count, story_id
        merged_postings = s.scalar(
            select(func.count())
            .select_from(StoryTerm)
            .join(Story, Story.id == StoryTerm.story_id)
            .where(Story.merged_into.is_not(None))
        )
        assert merged_postings == 0


def test_two_stories_of_one_event_are_merged_into_the_older(
    sessions: sessionmaker[Session],
) -> None:
    seed_filler(sessions)
    wire = alone(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, 0.0, "wire.example")
    local = alone(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 30.0, "local.example")
    older, younger = story_of(sessions, wire), story_of(sessions, local)
    assert older != younger
    before = last_change(sessions)

    report = refine(sessions)

    assert (report.moved, report.merged, report.split, report.conflict) == (1, 1, 0, False)
    assert story_of(sessions, wire) == story_of(sessions, local) == older
    with scope(sessions) as s:
        gone = s.get(Story, younger)
        kept = s.get(Story, older)
        assert gone is not None and gone.merged_into == older
        assert kept is not None and kept.article_count == 2 and kept.outlet_count == 2
        profile = s.get(StoryProfile, older)
        assert profile is not None and profile.outlets == ["local.example", "wire.example"]
    kinds = [
        (k, e, p.get("merged_into"), p.get("story_id")) for k, e, p in changes(sessions, before)
    ]
    assert ("story.merged", younger, older, None) in kinds
    assert ("article.updated", local, None, older) in kinds
    assert ("story.updated", older, None, None) in kinds
    consistent(sessions)


def test_coverage_days_after_the_event_joins_its_story_once_refined(
    sessions: sessionmaker[Session],
) -> None:
    # The wire first, a follow-up four days later: past the online step's 72 h window it opens
    # a story of its own; the refinement's week-long window joins the two.
    seed_filler(sessions)
    wire = add_article(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=0.0, site="wire.example")
    late = add_article(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=96.0, site="l.example")
    run(sessions, wire)
    run(sessions, late)
    assert story_of(sessions, late) != story_of(sessions, wire)

    refine_stories(sessions, window=timedelta(hours=168))

    assert story_of(sessions, late) == story_of(sessions, wire)


@pytest.mark.parametrize("limit", [4, 1000])
def test_everything_refined_at_once_or_window_by_window(
    sessions: sessionmaker[Session], limit: int
) -> None:
    # window=None: the whole timeline (the end of `storywire cluster`), in windows of at
    # most `limit` articles overlapping by half when it does not fit in one.
    seed_filler(sessions)
    wire = alone(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, 0.0, "wire.example")
    local = alone(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 3.0, "local.example")
    visit_a = alone(sessions, VISIT_A_TITLE, VISIT_A, 200.0, "daily.example")
    visit_b = alone(sessions, VISIT_B_TITLE, VISIT_B, 203.0, "wire.example")

    report = refine_stories(sessions, window=None, max_articles=limit)

    assert report.merged == 2 and not report.conflict
    assert story_of(sessions, wire) == story_of(sessions, local)
    assert story_of(sessions, visit_a) == story_of(sessions, visit_b)
    assert story_of(sessions, wire) != story_of(sessions, visit_a)
    consistent(sessions)


def test_a_story_of_two_events_is_split_and_keeps_its_id_for_the_larger_part(
    sessions: sessionmaker[Session],
) -> None:
    seed_filler(sessions)
    wire = add_article(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=0.0, site="wire.example")
    local = add_article(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=3.0, site="local.example")
    strike = add_article(sessions, STRIKE_TITLE, STRIKE, hours=5.0, site="daily.example")
    for article_id in (wire, local, strike):
        run(sessions, article_id)
    bridge = story_of(sessions, wire)
    assert story_of(sessions, local) == bridge
    wrong = story_of(sessions, strike)
    with scope(sessions) as s:  # as if the online step had joined the strike to the bridge
        s.execute(update(Article).where(Article.id == strike).values(story_id=bridge))
        s.execute(update(Story).where(Story.id == wrong).values(merged_into=bridge))
        s.execute(update(Story).where(Story.id == bridge).values(article_count=3))
        s.execute(StoryTerm.__table__.delete().where(StoryTerm.story_id == wrong))
    before = last_change(sessions)

    report = refine(sessions)

    assert (report.moved, report.split, report.merged) == (1, 1, 0)
    new = story_of(sessions, strike)
    assert report.new_stories == [new]
    assert story_of(sessions, wire) == story_of(sessions, local) == bridge != new
    found = changes(sessions, before)
    assert ("story.split", new, {"v": 1, "split_from": bridge, "articles": 1}) in found
    assert ("article.updated", strike, {"v": 1, "story_id": new, "method": "refine"}) in found
    with scope(sessions) as s:
        story = s.get(Story, new)
        assert story is not None
        assert (story.headline, story.article_count, story.outlet_count) == (STRIKE_TITLE, 1, 1)
        assert s.scalar(select(func.count()).where(StoryTerm.story_id == new)) > 0
    consistent(sessions)


def test_a_second_refinement_of_an_unchanged_window_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    seed_filler(sessions)
    alone(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, 0.0, "wire.example")
    alone(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 3.0, "local.example")
    alone(sessions, VISIT_A_TITLE, VISIT_A, 5.0, "daily.example")
    alone(sessions, VISIT_B_TITLE, VISIT_B, 8.0, "wire.example")
    first = refine(sessions)
    assert first.moved > 0
    after_first = last_change(sessions)
    with scope(sessions) as s:
        stories = s.execute(select(Story.id, Story.merged_into, Story.article_count)).all()

    second = refine(sessions)

    assert (second.moved, second.split, second.merged) == (0, 0, 0)
    assert last_change(sessions) == after_first
    with scope(sessions) as s:
        assert s.execute(select(Story.id, Story.merged_into, Story.article_count)).all() == stories


class _Interleaved:
    """Sessions whose ``n``-th one first runs ``meanwhile`` (another worker's transaction),
    so that it happens between a refinement's read and its write."""

    def __init__(
        self, sessions: sessionmaker[Session], n: int, meanwhile: Callable[[], None]
    ) -> None:
        self.sessions, self.n, self.meanwhile = sessions, n, meanwhile
        self.calls = 0

    def __call__(self) -> Session:
        self.calls += 1
        if self.calls == self.n:
            self.meanwhile()
        return self.sessions()


def test_an_article_moved_meanwhile_makes_the_refinement_write_nothing(
    sessions: sessionmaker[Session],
) -> None:
    seed_filler(sessions)
    wire = alone(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, 0.0, "wire.example")
    local = alone(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 3.0, "local.example")
    visit = alone(sessions, VISIT_A_TITLE, VISIT_A, 4.0, "daily.example")

    def online_merge() -> None:  # another writer moves an article of the window
        with scope(sessions) as s:
            s.execute(
                update(Article).where(Article.id == visit).values(story_id=story_of(sessions, wire))
            )

    before = last_change(sessions)
    report = refine(_Interleaved(sessions, 2, online_merge))

    assert report.conflict and report.moved == 0
    assert story_of(sessions, local) != story_of(sessions, wire)  # not merged by the refinement
    assert last_change(sessions) == before


def test_an_article_assigned_meanwhile_keeps_its_story_and_is_counted(
    sessions: sessionmaker[Session],
) -> None:
    seed_filler(sessions)
    wire = alone(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, 0.0, "wire.example")
    local = alone(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 3.0, "local.example")
    late = add_article(sessions, "Copy", BRIDGE_WIRE + "\n\nUpdated.", hours=4.0, site="c.example")

    def online_step() -> None:
        run(sessions, late)

    report = refine(_Interleaved(sessions, 2, online_step))

    assert not report.conflict and report.moved == 1
    bridge = story_of(sessions, wire)
    assert story_of(sessions, local) == story_of(sessions, late) == bridge
    consistent(sessions)


def test_refinement_runs_alongside_online_assignment(sessions: sessionmaker[Session]) -> None:
    seed_filler(sessions)
    ids = [
        add_article(sessions, title, text, hours=h, site=site)
        for title, text, h, site in [
            (BRIDGE_WIRE_TITLE, BRIDGE_WIRE, 0.0, "wire.example"),
            (VISIT_A_TITLE, VISIT_A, 1.0, "daily.example"),
            (BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 2.0, "local.example"),
            (STRIKE_TITLE, STRIKE, 3.0, "wire.example"),
            (VISIT_B_TITLE, VISIT_B, 4.0, "wire.example"),
        ]
        for _ in range(3)
    ]
    failures: list[BaseException] = []

    def assign_all() -> None:
        try:
            for article_id in ids:
                run(sessions, article_id)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    worker = threading.Thread(target=assign_all)
    worker.start()
    while worker.is_alive():
        refine(sessions)
    worker.join()
    refine(sessions)
    assert failures == []
    consistent(sessions)
    assert story_of(sessions, ids[0]) == story_of(sessions, ids[6])  # the two bridge reports


class _Killed(Exception):
    """The process dies halfway through the refinement's write."""


def test_a_refinement_killed_halfway_leaves_the_stories_as_they_were(
    sessions: sessionmaker[Session],
) -> None:
    seed_filler(sessions)
    alone(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, 0.0, "wire.example")
    alone(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 3.0, "local.example")
    with scope(sessions) as s:
        before_articles = s.execute(select(Article.id, Article.story_id).order_by(Article.id)).all()
        before_stories = s.execute(select(Story.id, Story.merged_into).order_by(Story.id)).all()
    before = last_change(sessions)
    bind = sessions.kw["bind"]
    writes = 0

    def die_after_first_update(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal writes
        if statement.lstrip().upper().startswith("UPDATE"):
            writes += 1
            if writes == 2:  # one article moved already, in the same transaction
                raise _Killed

    event.listen(bind, "before_cursor_execute", die_after_first_update)
    try:
        with pytest.raises(_Killed):
            refine(sessions)
    finally:
        event.remove(bind, "before_cursor_execute", die_after_first_update)

    with scope(sessions) as s:
        assert s.execute(select(Article.id, Article.story_id).order_by(Article.id)).all() == (
            before_articles
        )
        assert s.execute(select(Story.id, Story.merged_into).order_by(Story.id)).all() == (
            before_stories
        )
    assert last_change(sessions) == before
    assert refine(sessions).moved == 1  # and the next run does the work


def test_beat_runs_the_refine_task_on_the_stories_queue() -> None:
    from worker.celery_app import app, celery_config
    from worker.config import Settings
    from worker.tasks import refine_stories as task

    config = celery_config(Settings(refine_interval_s=120))
    entries = {e["task"]: e for e in config["beat_schedule"].values()}
    assert entries["worker.tasks.refine_stories"]["schedule"] == 120
    assert config["task_routes"]["worker.tasks.refine_stories"] == {"queue": "stories"}
    assert task.name in app.tasks


def test_the_task_refines_the_configured_window(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from tests.support.services import migrate
    from worker import resources as resources_module
    from worker.config import Settings
    from worker.tasks import refine_stories as task

    migrate(sqlite_url)

    def refine_within(hours: float) -> int:
        settings = Settings(database_url=sqlite_url, refine_window_hours=hours)
        rt = resources_module.build_resources(settings)
        monkeypatch.setattr(resources_module, "_resources", rt)
        monkeypatch.setattr(resources_module, "_pid", os.getpid())
        try:
            return int(task())
        finally:
            rt.close()

    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    # Two reports of one event in two stories, 30 h apart.
    alone(sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, 0.0, "wire.example")
    alone(sessions, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, 30.0, "local.example")
    engine.dispose()
    runs_before = _refinement_runs()
    assert refine_within(24) == 0  # the first story is outside the window
    assert refine_within(48) == 1  # inside: merged, one article moved
    assert refine_within(48) == 0  # nothing left to correct
    assert _refinement_runs() == runs_before + 3  # each run timed in its histogram


def _refinement_runs() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("storywire_refinement_seconds_count") or 0.0


def test_the_window_holds_each_article_s_term_pairs(sessions: sessionmaker[Session]) -> None:
    # What the refinement compares besides the terms: each original's adjacent term pairs,
    # weighed with the window's own document frequencies (no table counts them).
    seed_filler(sessions)
    first = alone(sessions, "Floods cut off Tamsin Valley villages", "", 0.0, "wire.example")
    second = alone(sessions, "Army boats reach Tamsin Valley", "", 26.0, "local.example")
    other = alone(sessions, STRIKE_TITLE, STRIKE, 27.0, "wire.example")
    with scope(sessions) as s:
        found = read_window(s, WINDOW, 1000, None, DEFAULT_CONFIG)
    window = found.window
    assert window is not None and window.phrases is not None
    rows = window.phrases[[found.rows[first], found.rows[second], found.rows[other]]]
    dots = (rows @ rows.T).toarray()
    assert dots[0, 0] == pytest.approx(1.0) and dots[2, 2] == pytest.approx(1.0)
    assert dots[0, 1] > 0.1  # "tamsin valley"
    assert dots[0, 2] == 0.0 and dots[1, 2] == 0.0
