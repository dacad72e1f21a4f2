"""The story task as a worker runs it (Postgres): when it waits for a busy story step, and
which article tasks send one."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.exceptions import Retry
from sqlalchemy import text

from models import session_scope
from tests.e2e.site import serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.support.services import migrate
from tests.worker.pipeline.conftest import ingest_feed, make_settings
from tests.worker.pipeline.test_story import extracted, story_of
from worker import resources as resources_module
from worker import tasks
from worker.pipeline import StoryStepBusy
from worker.pipeline.story import DEFAULT_STORY_DELAY_S, StoryWakeups
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
    # Not a run another test of this process adopted (its row is in another database).
    monkeypatch.setattr(resources_module, "_inherited_run_id", None)
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


def test_article_tasks_within_a_story_countdown_send_one_story_task(
    worker: Resources, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three pages stored within one countdown (a clock that stands still): the first sends a
    # story task with the countdown, the second none (that task will find its article), the
    # last one at once, as no page is pending any more.
    sent: list[tuple[tuple[object, ...], dict[str, object], float]] = []

    def apply_async(args: tuple[object, ...], kwargs: dict[str, object], countdown: float) -> None:
        sent.append((args, kwargs, countdown))  # the broker's part: what would be queued

    monkeypatch.setattr(tasks.assign_story, "apply_async", apply_async)
    monkeypatch.setattr(tasks, "_STORY_WAKEUPS", StoryWakeups(clock=lambda: 1_000.0))
    first, second, last = ingest_feed(worker, serve_site(http_server)["world"])
    for article_id in (first, second, last):
        assert tasks.fetch_article(article_id) == "ok"
    assert sent == [
        ((first, None), {"last": False, "wakeup": True}, DEFAULT_STORY_DELAY_S),
        ((last, None), {"last": True, "wakeup": True}, 0.0),
    ]
    # The last one's step runs first (no countdown); the first one's, a countdown later, finds
    # its own article done and still runs its batch. Every article has its story.
    for args, kwargs, _ in reversed(sent):
        tasks.assign_story(*args, **kwargs)
    assert None not in [story_of(worker, a) for a in (first, second, last)]


def test_a_story_task_sends_another_while_articles_may_still_wait(
    worker: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[object, ...]] = []
    monkeypatch.setattr(tasks.assign_story, "apply_async", lambda args, kwargs: sent.append(args))
    monkeypatch.setattr(worker.settings, "story_batch", 2)
    monkeypatch.setattr(worker.settings, "story_batches", 1)
    waiting = [
        extracted(worker, f"Strike day {i}", f"Dockers stop work, day {i}.", i) for i in range(3)
    ]
    tasks.assign_story(waiting[0], wakeup=True)  # a full batch of two: the third still waits
    assert sent == [(waiting[0], None)] and story_of(worker, waiting[2]) is None
    tasks.assign_story(*sent[0], wakeup=True)
    assert sent == [(waiting[0], None)]  # a batch that was not full: nothing more
    assert story_of(worker, waiting[2]) is not None
