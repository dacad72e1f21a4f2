"""Pruning the syndicated-copy index on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Article, utcnow
from models import session_scope as scope
from models.story_state import ArticleBand, ArticleSketch
from tests.support.services import migrate
from tests.worker.dedupe.test_minhash import syndicated_copy
from tests.worker.stories.test_step import T0, add_article, run
from tests.worker.stories.texts import (
    BRIDGE_WIRE,
    BRIDGE_WIRE_TITLE,
    FILLER,
    VISIT_A,
    VISIT_A_TITLE,
)
from worker import resources as resources_module
from worker.celery_app import celery_config
from worker.config import Settings
from worker.stories.prune import prune_sketches

WINDOW = timedelta(days=30)


def days_ago(days: float) -> float:
    """The ``hours`` argument of ``add_article`` for an article published ``days`` ago."""
    return ((utcnow() - T0) - timedelta(days=days)).total_seconds() / 3600


def stored_when_published(sessions: sessionmaker[Session], *article_ids: int) -> None:
    """Backdate the sketches' ``added_at`` to their ``published_at``, as if each article had
    been sketched when it was published (the story step stamps the time it runs)."""
    with scope(sessions) as s:
        s.execute(
            update(ArticleSketch)
            .where(ArticleSketch.article_id.in_(article_ids))
            .values(added_at=ArticleSketch.published_at)
        )


def sketched(sessions: sessionmaker[Session]) -> set[int]:
    with scope(sessions) as s:
        return set(s.scalars(select(ArticleSketch.article_id)))


def banded(sessions: sessionmaker[Session]) -> dict[int, int]:
    with scope(sessions) as s:
        rows = s.execute(
            select(ArticleBand.article_id, func.count()).group_by(ArticleBand.article_id)
        ).all()
        return {r[0]: r[1] for r in rows}


def test_old_sketches_and_bands_go_recent_ones_stay(sessions: sessionmaker[Session]) -> None:
    old = [
        add_article(sessions, title, text, hours=days_ago(40 + i), site=f"old{i}.example")
        for i, (title, text) in enumerate(FILLER[:3])
    ]
    recent = [
        add_article(sessions, title, text, hours=days_ago(29 - i), site=f"new{i}.example")
        for i, (title, text) in enumerate(FILLER[3:])
    ]
    for article_id in old + recent:
        run(sessions, article_id)
    stored_when_published(sessions, *old, *recent)
    assert sketched(sessions) == set(old + recent)
    bands_before = banded(sessions)
    assert set(bands_before) == set(old + recent)

    # Bounded: one batch of two when told to stop there, the rest on the next call.
    assert prune_sketches(sessions, WINDOW, batch_size=2, max_batches=1) == 2
    assert len(sketched(sessions) & set(old)) == 1
    assert prune_sketches(sessions, WINDOW, batch_size=2) == 1
    assert sketched(sessions) == set(recent)
    assert banded(sessions) == {a: bands_before[a] for a in recent}
    # Idempotent.
    assert prune_sketches(sessions, WINDOW) == 0
    assert sketched(sessions) == set(recent)
    # The articles themselves are untouched.
    with scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Article)) == len(old + recent)
        assert s.scalar(select(func.count()).where(Article.story_id.is_(None))) == 0


def test_sketch_without_a_date_ages_by_when_it_was_stored(
    sessions: sessionmaker[Session],
) -> None:
    old = add_article(sessions, *FILLER[0], hours=days_ago(1))
    recent = add_article(sessions, *FILLER[1], hours=days_ago(1), site="b.example")
    for article_id in (old, recent):
        run(sessions, article_id)
    with scope(sessions) as s:
        s.execute(update(ArticleSketch).values(published_at=None))
        s.execute(
            update(ArticleSketch)
            .where(ArticleSketch.article_id == old)
            .values(added_at=utcnow() - timedelta(days=31))
        )
    assert prune_sketches(sessions, WINDOW) == 1
    assert sketched(sessions) == {recent}
    assert set(banded(sessions)) == {recent}


def test_copies_after_pruning(sessions: sessionmaker[Session]) -> None:
    wire = add_article(
        sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=days_ago(45), site="wire.example"
    )
    visit = add_article(sessions, VISIT_A_TITLE, VISIT_A, hours=days_ago(2), site="daily.example")
    wire_story = run(sessions, wire)[0]
    visit_story = run(sessions, visit)[0]
    stored_when_published(sessions, wire, visit)
    # Before pruning, layer 3 finds a near copy of the old original (copies add no sketch).
    before = add_article(
        sessions,
        "Copy",
        syndicated_copy(BRIDGE_WIRE, keep=0.7, edit_rate=0.03, seed=1),
        hours=days_ago(44),
        site="copy.example",
    )
    assert run(sessions, before) == (wire_story, wire, "near")
    assert sketched(sessions) == {wire, visit}

    assert prune_sketches(sessions, WINDOW) == 1
    assert sketched(sessions) == {visit}

    # A near copy of a recent original is still found by layer 3.
    visit_copy = add_article(
        sessions,
        "Copy",
        syndicated_copy(VISIT_A, keep=0.7, edit_rate=0.03),
        hours=days_ago(1),
        site="copy.example",
    )
    assert run(sessions, visit_copy) == (visit_story, visit, "near")

    # A near copy of a pruned original is not a copy to layer 3, but it still gets a story
    # (and, an original now, a sketch of its own).
    wire_copy = add_article(
        sessions,
        "Copy",
        syndicated_copy(BRIDGE_WIRE, keep=0.7, edit_rate=0.03, seed=2),
        hours=days_ago(1),
        site="copy.example",
    )
    story_id, duplicate_of, method = run(sessions, wire_copy)
    assert duplicate_of is None and method != "near"
    assert story_id is not None
    assert wire_copy in sketched(sessions)

    # An exact copy of the pruned original is still caught by layer 2, at any age.
    exact = add_article(sessions, "Same", BRIDGE_WIRE, hours=days_ago(1), site="exact.example")
    assert run(sessions, exact) == (wire_story, wire, "exact")
    with scope(sessions) as s:
        assert s.get(Article, wire_copy).duplicate_of is None  # type: ignore[union-attr]
        assert s.get(Article, visit_copy).duplicate_of == visit  # type: ignore[union-attr]
        assert s.get(Article, exact).duplicate_of == wire  # type: ignore[union-attr]
        assert s.scalar(select(func.count()).where(Article.story_id.is_(None))) == 0


def test_an_old_dated_article_sketched_recently_keeps_its_sketch(
    sessions: sessionmaker[Session],
) -> None:
    # Both published 40 days ago; the replayed one only reached the store today, the other
    # was stored when it was published.
    replayed = add_article(
        sessions, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=days_ago(40), site="wire.example"
    )
    stale = add_article(sessions, *FILLER[0], hours=days_ago(40), site="old.example")
    replayed_story = run(sessions, replayed)[0]
    run(sessions, stale)
    with scope(sessions) as s:  # stamped by the database when written, in UTC
        added_at = s.scalar(
            select(ArticleSketch.added_at).where(ArticleSketch.article_id == replayed)
        )
    assert added_at is not None and abs(utcnow() - added_at) < timedelta(minutes=5)
    stored_when_published(sessions, stale)

    assert prune_sketches(sessions, WINDOW) == 1
    assert sketched(sessions) == {replayed}
    assert set(banded(sessions)) == {replayed}

    # So a near copy of it arriving the next day is still found by layer 3.
    copy = add_article(
        sessions,
        "Copy",
        syndicated_copy(BRIDGE_WIRE, keep=0.7, edit_rate=0.03, seed=3),
        hours=days_ago(39),
        site="copy.example",
    )
    assert run(sessions, copy) == (replayed_story, replayed, "near")


def test_prune_rejects_an_empty_batch(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        prune_sketches(sessions, WINDOW, batch_size=0)


def test_beat_runs_the_task_and_it_is_routed_like_prune_changes() -> None:
    config = celery_config(Settings())
    entries = {e["task"]: e for e in config["beat_schedule"].values()}
    assert "worker.tasks.prune_sketches" in entries
    assert entries["worker.tasks.prune_sketches"]["schedule"] <= 86_400
    routes = config["task_routes"]
    assert routes["worker.tasks.prune_sketches"] == routes["worker.tasks.prune_changes"]

    from worker.celery_app import app
    from worker.tasks import prune_sketches as task

    assert task.name == "worker.tasks.prune_sketches"
    assert task.name in app.tasks


def test_task_prunes_with_the_configured_window(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.tasks import prune_sketches as task

    migrate(sqlite_url)
    settings = Settings(database_url=sqlite_url, syndication_window_days=10)
    rt = resources_module.build_resources(settings)
    monkeypatch.setattr(resources_module, "_resources", rt)
    monkeypatch.setattr(resources_module, "_pid", os.getpid())
    try:
        old = add_article(rt.sessions, *FILLER[0], hours=days_ago(11))
        recent = add_article(rt.sessions, *FILLER[1], hours=days_ago(9), site="b.example")
        for article_id in (old, recent):
            run(rt.sessions, article_id)
        stored_when_published(rt.sessions, old, recent)
        assert task() == 1
        assert sketched(rt.sessions) == {recent}
        assert task() == 0
    finally:
        rt.close()
