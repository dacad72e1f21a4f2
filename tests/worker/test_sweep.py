"""The sweeper gives up on an article whose story step keeps failing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from models import Article, session_scope, utcnow
from tests.support.services import migrate
from tests.worker.pipeline.conftest import make_settings
from tests.worker.stories.test_step import add_article
from worker import resources as resources_module
from worker import tasks
from worker.pipeline.sweep import DEFAULT_MAX_STORY_ATTEMPTS
from worker.resources import Resources, build_resources


@pytest.fixture
def worker(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Resources, list[int]]]:
    """This process's resources, as a worker's tasks get them, and the ids sweep enqueues."""
    migrate(sqlite_url)
    rt = build_resources(make_settings(tmp_path, sqlite_url))
    monkeypatch.setattr(resources_module, "_resources", rt)
    monkeypatch.setattr(resources_module, "_pid", os.getpid())
    enqueued: list[int] = []
    monkeypatch.setattr(tasks.assign_story, "delay", enqueued.append)
    monkeypatch.setattr(tasks.fetch_article, "delay", enqueued.append)
    yield rt, enqueued
    rt.close()


def waiting(rt: Resources, n: int, story_attempts: int) -> int:
    """An extracted article without a story, untouched for an hour, that failed so often."""
    article_id = add_article(rt.sessions, "Title", f"Text {n}.", site=f"s{n}.example")
    with session_scope(rt.sessions) as s:
        s.execute(
            update(Article)
            .where(Article.id == article_id)
            .values(story_attempts=story_attempts, updated_at=utcnow() - timedelta(hours=1))
        )
    return article_id


def test_sweep_gives_up_on_articles_past_the_max_story_attempts(
    worker: tuple[Resources, list[int]],
) -> None:
    rt, enqueued = worker
    limit = DEFAULT_MAX_STORY_ATTEMPTS
    fresh = waiting(rt, 1, 0)
    failing = waiting(rt, 2, limit - 1)
    hopeless = waiting(rt, 3, limit)
    beyond = waiting(rt, 4, limit + 3)
    assert tasks.sweep() == 2
    assert sorted(enqueued) == sorted([fresh, failing])
    assert hopeless not in enqueued and beyond not in enqueued


def test_a_swept_article_is_not_swept_again_at_the_next_tick(
    worker: tuple[Resources, list[int]],
) -> None:
    # The sweeper touches what it re-enqueues: the next tick (a sweep interval later, well
    # before the stale-pending time) must not enqueue the same rows again.
    rt, enqueued = worker
    unassigned = waiting(rt, 1, 0)
    pending = waiting(rt, 2, 0)
    with session_scope(rt.sessions) as s:
        s.execute(update(Article).where(Article.id == pending).values(status="pending"))
        s.execute(
            update(Article)
            .where(Article.id == pending)
            .values(updated_at=utcnow() - timedelta(hours=1))
        )
    assert tasks.sweep() == 2
    assert sorted(enqueued) == sorted([unassigned, pending])
    assert tasks.sweep() == 0
    assert len(enqueued) == 2
