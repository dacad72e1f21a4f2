"""The story task as a worker runs it: when it waits for a busy story step (Postgres)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.exceptions import Retry
from sqlalchemy import text

from models import session_scope
from tests.support.services import migrate
from tests.worker.pipeline.conftest import make_settings
from tests.worker.pipeline.test_story import extracted, story_of
from worker import resources as resources_module
from worker import tasks
from worker.pipeline import StoryStepBusy
from worker.resources import Resources, build_resources
from worker.stories import lock_story_step

_WAITING_FOR_A_LOCK = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
)


@pytest.fixture
def worker(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Resources]:
    """This process's resources, as a worker's tasks get them."""
    migrate(pg_url)
    rt = build_resources(make_settings(tmp_path, pg_url))
    monkeypatch.setattr(resources_module, "_resources", rt)
    monkeypatch.setattr(resources_module, "_pid", os.getpid())
    yield rt
    rt.close()


def test_a_story_task_comes_back_later_while_another_batch_holds_the_step(
    worker: Resources,
) -> None:
    article = extracted(worker, "Harbour strike ends", "Dockers return to work today.", 1)
    with session_scope(worker.sessions) as holder:
        lock_story_step(holder)  # another worker in the middle of a batch
        with pytest.raises(Retry) as retried:  # a delay later
            tasks.assign_story(article)
    assert isinstance(retried.value.__context__, StoryStepBusy)
    assert story_of(worker, article) is None


def test_the_last_story_task_waits_for_the_batch_holding_the_step(worker: Resources) -> None:
    # Sent when no page was pending: it waits for the lock instead of coming back later.
    article = extracted(worker, "Harbour strike ends", "Dockers return to work today.", 1)
    locked, waited = threading.Event(), threading.Event()

    def another_batch() -> None:
        with session_scope(worker.sessions) as holder:
            lock_story_step(holder)
            locked.set()
            # Released only once the task is seen waiting for it (no sleep to guess at).
            while not waited.is_set():
                with worker.engine.connect() as probe:
                    if probe.execute(_WAITING_FOR_A_LOCK).scalar_one():
                        waited.set()

    holder = threading.Thread(target=another_batch)
    holder.start()
    assert locked.wait(30)
    try:
        story_id = tasks.assign_story(article, last=True)
    finally:
        waited.set()
        holder.join()
    assert story_id is not None and story_id == story_of(worker, article)
