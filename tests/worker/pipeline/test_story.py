"""The story step as the worker's task runs it: a backlog assigned in batches, and a bad article
that fails only its own task."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Article, Change, session_scope
from tests.support.services import migrate
from tests.worker.pipeline.conftest import make_settings
from tests.worker.stories.test_store import add_article
from tests.worker.stories.texts import (
    BRIDGE_LOCAL,
    BRIDGE_LOCAL_TITLE,
    BRIDGE_WIRE,
    BRIDGE_WIRE_TITLE,
    STRIKE,
    STRIKE_TITLE,
)
from worker.pipeline import assign_story
from worker.pipeline import story as story_module
from worker.runtime import Runtime, build_runtime
from worker.stories import assigner


@pytest.fixture(params=["sqlite", "postgres"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    monkeypatch.setattr(story_module, "_failed_alone", set())  # this test's worker process
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    migrate(url)
    rt = build_runtime(make_settings(tmp_path, url))
    yield rt
    rt.close()


def extracted(rt: Runtime, title: str, text: str, hours: float) -> int:
    """An article fetched and extracted, waiting for the story step."""
    return add_article(rt.sessions, title, text, hours=hours, site=f"site{hours:g}.example")


def story_of(rt: Runtime, article_id: int) -> int | None:
    with session_scope(rt.sessions) as s:
        article = s.get(Article, article_id)
        assert article is not None
        return article.story_id


def test_a_task_assigns_the_backlog_oldest_report_first(backend: Runtime) -> None:
    # Three reports wait for the story step (a busy stories queue); the newest one's task runs
    # first and takes the others with it, in the order they were published.
    local = extracted(backend, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=2)
    strike = extracted(backend, STRIKE_TITLE, STRIKE, hours=3)
    wire = extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=1)
    outcome = assign_story(backend.sessions, strike, batch=8)
    assert outcome.method == "new" and outcome.story_id == story_of(backend, strike)
    assert story_of(backend, local) == story_of(backend, wire) is not None
    with session_scope(backend.sessions) as s:
        created = s.scalars(
            select(Change.payload).where(Change.kind == "story.created").order_by(Change.id)
        ).all()
    assert [p["article_id"] for p in created] == [wire, strike]  # wire before local joined it
    # Their own tasks, delivered later, find them done.
    assert assign_story(backend.sessions, local, batch=8).method == "done"


def test_a_batch_takes_at_most_its_size(backend: Runtime) -> None:
    first = extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=1)
    second = extracted(backend, STRIKE_TITLE, STRIKE, hours=2)
    third = extracted(backend, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=3)
    assign_story(backend.sessions, third, batch=2)  # its own article and the oldest other
    assert story_of(backend, first) is not None and story_of(backend, third) is not None
    assert story_of(backend, second) is None


def test_an_article_that_fails_holds_up_only_its_own_task(
    backend: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A fault no fixture produces for real (a bug on one text): the batch that holds the bad
    # article fails as a whole, then each task assigns its own article alone.
    bad = extracted(backend, STRIKE_TITLE, STRIKE, hours=1)
    good = extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=2)
    real = assigner.assign

    def assign(index: assigner.StoryIndex, doc: assigner.StoryDoc, *args: object) -> object:
        if doc.id == bad:
            raise RuntimeError("a bug on this one text")
        return real(index, doc, *args)  # type: ignore[arg-type]

    monkeypatch.setattr("worker.stories.store.assign", assign)
    assert assign_story(backend.sessions, good, batch=8).method == "new"
    assert story_of(backend, good) is not None and story_of(backend, bad) is None
    with pytest.raises(RuntimeError, match="this one text"):
        assign_story(backend.sessions, bad, batch=8)
    with session_scope(backend.sessions) as s:  # nothing of the failed batches was written
        assert len(s.scalars(select(Change.id).where(Change.kind == "story.created")).all()) == 1
    # Having failed alone, it is left out of later batches: they no longer fail.
    later = extracted(backend, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=3)
    other = extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE + "\n\nUpdate.", hours=4)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="worker.pipeline.story"):
        assign_story(backend.sessions, other, batch=8)
    assert "story batch failed" not in caplog.text
    assert story_of(backend, later) is not None and story_of(backend, bad) is None
    monkeypatch.setattr("worker.stories.store.assign", real)  # fixed (a new release):
    assert assign_story(backend.sessions, bad, batch=8).method == "new"  # alone, once more
    assert bad not in story_module._failed_alone
