"""The story step as the worker's task runs it: a backlog assigned in batches, and a bad article
that fails only its own task, with its failures recorded on its row."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from models import Article, Change, session_scope
from tests.support.services import migrate
from tests.support.sql import sql_statements
from tests.worker.pipeline.conftest import make_settings
from tests.worker.stories.test_step import add_article
from tests.worker.stories.texts import (
    BRIDGE_LOCAL,
    BRIDGE_LOCAL_TITLE,
    BRIDGE_WIRE,
    BRIDGE_WIRE_TITLE,
    STRIKE,
    STRIKE_TITLE,
)
from worker.pipeline import StoryStepBusy, assign_story_step
from worker.pipeline import story as story_module
from worker.pipeline.story import StoryWakeups
from worker.resources import Resources, build_resources
from worker.stories import assigner, lock_story_step


@pytest.fixture(params=["sqlite", "postgres"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Resources]:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    migrate(url)
    rt = build_resources(make_settings(tmp_path, url))
    yield rt
    rt.close()


def extracted(rt: Resources, title: str, text: str, hours: float) -> int:
    """An article fetched and extracted, waiting for the story step."""
    return add_article(rt.sessions, title, text, hours=hours, site=f"site{hours:g}.example")


def failures(rt: Resources, article_id: int) -> tuple[str | None, int]:
    """What the article's row says of its story step's failures."""
    with session_scope(rt.sessions) as s:
        article = s.get(Article, article_id)
        assert article is not None
        return article.story_error, article.story_attempts


def fail_on(monkeypatch: pytest.MonkeyPatch, bad: int, error: Exception) -> None:
    """A fault no fixture produces for real (a bug on one text): layers 2-4 raise ``error``
    for article ``bad``, and work as shipped for the others."""
    real = assigner.assign

    def assign(index: assigner.StoryIndex, doc: assigner.StoryDoc, *args: object) -> object:
        if doc.id == bad:
            raise error
        return real(index, doc, *args)  # type: ignore[arg-type]

    monkeypatch.setattr("worker.stories.step.assign", assign)


def story_of(rt: Resources, article_id: int) -> int | None:
    with session_scope(rt.sessions) as s:
        article = s.get(Article, article_id)
        assert article is not None
        return article.story_id


def test_a_task_assigns_the_backlog_oldest_report_first(backend: Resources) -> None:
    # Three reports wait for the story step (a busy stories queue); the newest one's task runs
    # first and takes the others with it, in the order they were published.
    local = extracted(backend, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=2)
    strike = extracted(backend, STRIKE_TITLE, STRIKE, hours=3)
    wire = extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=1)
    outcome = assign_story_step(backend.sessions, strike, batch=8)
    assert outcome.method == "new" and outcome.story_id == story_of(backend, strike)
    assert story_of(backend, local) == story_of(backend, wire) is not None
    with session_scope(backend.sessions) as s:
        created = s.scalars(
            select(Change.payload).where(Change.kind == "story.created").order_by(Change.id)
        ).all()
    assert [p["article_id"] for p in created] == [wire, strike]  # wire before local joined it
    # Their own tasks, delivered later, find them done.
    assert assign_story_step(backend.sessions, local, batch=8).method == "done"


def test_a_batch_takes_at_most_its_size(backend: Resources) -> None:
    first = extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=1)
    second = extracted(backend, STRIKE_TITLE, STRIKE, hours=2)
    third = extracted(backend, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=3)
    assign_story_step(backend.sessions, third, batch=2)  # its own article and the oldest other
    assert story_of(backend, first) is not None and story_of(backend, third) is not None
    assert story_of(backend, second) is None


def test_a_task_works_off_full_batches_of_the_backlog(backend: Resources) -> None:
    texts = [(BRIDGE_WIRE_TITLE, BRIDGE_WIRE), (STRIKE_TITLE, STRIKE)] * 4
    waiting = [extracted(backend, t, x, hours=h) for h, (t, x) in enumerate(texts, start=1)]
    # Batches of 2, up to 3 of them: its own article and the oldest, then two full batches.
    assign_story_step(backend.sessions, waiting[-1], batch=2, batches=3)
    assigned = [a for a in waiting if story_of(backend, a) is not None]
    assert assigned == [*waiting[:5], waiting[-1]]
    # The same stories as one at a time: one per text.
    assert len({story_of(backend, a) for a in assigned}) == 2
    # A batch that is not full ends the drain: nothing more is waiting.
    assign_story_step(backend.sessions, waiting[6], batch=2, batches=10)
    assert [a for a in waiting if story_of(backend, a) is None] == []


def test_a_step_says_whether_articles_may_still_be_waiting(backend: Resources) -> None:
    texts = [(BRIDGE_WIRE_TITLE, BRIDGE_WIRE), (STRIKE_TITLE, STRIKE)] * 3
    waiting = [extracted(backend, t, x, hours=h) for h, (t, x) in enumerate(texts, start=1)]
    # Two full batches of two: two articles are still waiting, and it says so.
    assert assign_story_step(backend.sessions, waiting[0], batch=2, batches=2).more
    assert [a for a in waiting if story_of(backend, a) is None] == waiting[4:]
    # The rest fits in a batch that is not full: nothing more.
    assert not assign_story_step(backend.sessions, waiting[4], batch=2, batches=2).more
    assert [a for a in waiting if story_of(backend, a) is None] == []


def test_a_wakeup_step_assigns_the_waiting_articles_though_its_own_has_its_story(
    backend: Resources,
) -> None:
    # Articles stored after its own, whose tasks were not sent (StoryWakeups), rely on it.
    own = extracted(backend, STRIKE_TITLE, STRIKE, hours=1)
    assert assign_story_step(backend.sessions, own, batch=8).method == "new"
    later = [
        extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=2),
        extracted(backend, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=3),
    ]
    # A step of its own article only would find it done, and assign nothing.
    assert assign_story_step(backend.sessions, own, batch=8).method == "done"
    assert [story_of(backend, a) for a in later] == [None, None]
    outcome = assign_story_step(backend.sessions, own, batch=8, wakeup=True)
    assert outcome.method == "done" and not outcome.more
    assert story_of(backend, later[0]) == story_of(backend, later[1]) is not None


def test_a_failed_wakeup_batch_assigns_each_of_its_articles_alone(
    backend: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Their tasks were not sent: the step that covers them does what each would have done.
    bad = extracted(backend, STRIKE_TITLE, STRIKE, hours=1)
    good = extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=2)
    own = extracted(backend, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=3)
    fail_on(monkeypatch, bad, RuntimeError("a bug on this one text"))
    outcome = assign_story_step(backend.sessions, own, batch=8, wakeup=True)
    assert outcome.method == "similar" and not outcome.more
    assert story_of(backend, good) == story_of(backend, own) is not None
    assert story_of(backend, bad) is None
    assert failures(backend, bad) == ("RuntimeError: a bug on this one text", 1)
    # Recorded: later batches leave it out (its failures are the sweeper's to retry).
    later = extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE + "\n\nUpdate.", hours=4)
    assert assign_story_step(backend.sessions, later, batch=8, wakeup=True).method == "near"
    assert failures(backend, bad) == ("RuntimeError: a bug on this one text", 1)


def test_a_failing_backlog_batch_ends_the_drain_not_the_task(
    backend: Resources, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    texts = [(BRIDGE_WIRE_TITLE, BRIDGE_WIRE), (STRIKE_TITLE, STRIKE)] * 2
    oldest, next_one, bad, own = (
        extracted(backend, t, x, hours=h) for h, (t, x) in enumerate(texts, start=1)
    )
    fail_on(monkeypatch, bad, RuntimeError("a bug on one text"))
    with caplog.at_level(logging.WARNING):
        outcome = assign_story_step(backend.sessions, own, batch=2, batches=2)
    # Its own batch (with the oldest) is done; the backlog batch after it rolled back whole.
    assert outcome.method == "new" and story_of(backend, oldest) is not None
    assert story_of(backend, next_one) is None and story_of(backend, bad) is None
    assert failures(backend, bad) == (None, 0)  # its own task records it, alone
    assert "backlog batch failed" in caplog.text
    assert outcome.more  # the caller sends another step for what the failed batch held


def test_an_article_that_fails_holds_up_only_its_own_task(
    backend: Resources, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The batch that holds the bad article fails as a whole, then each task assigns its own
    # article alone.
    bad = extracted(backend, STRIKE_TITLE, STRIKE, hours=1)
    good = extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=2)
    fail_on(monkeypatch, bad, RuntimeError("a bug on this one text"))
    assert assign_story_step(backend.sessions, good, batch=8).method == "new"
    assert story_of(backend, good) is not None and story_of(backend, bad) is None
    assert failures(backend, bad) == (None, 0)  # a failed batch is not the article's failure
    with pytest.raises(RuntimeError, match="this one text"):
        assign_story_step(backend.sessions, bad, batch=8)
    with session_scope(backend.sessions) as s:  # nothing of the failed batches was written
        assert len(s.scalars(select(Change.id).where(Change.kind == "story.created")).all()) == 1
    # Failed alone: on its row, in a transaction of its own.
    assert failures(backend, bad) == ("RuntimeError: a bug on this one text", 1)
    with pytest.raises(RuntimeError):
        assign_story_step(backend.sessions, bad, batch=8)  # its task, redelivered or swept
    assert failures(backend, bad) == ("RuntimeError: a bug on this one text", 2)

    # A restarted worker (resources of its own; no state in memory): later batches leave the
    # article out, from its row, and no longer fail.
    restarted = build_resources(backend.settings)
    try:
        later = extracted(restarted, BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=3)
        other = extracted(restarted, BRIDGE_WIRE_TITLE, BRIDGE_WIRE + "\n\nUpdate.", hours=4)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="worker.pipeline.story"):
            assign_story_step(restarted.sessions, other, batch=8)
        assert "story batch failed" not in caplog.text
        assert story_of(restarted, later) is not None and story_of(restarted, bad) is None
    finally:
        restarted.close()

    monkeypatch.setattr("worker.stories.step.assign", assigner.assign)  # fixed (a new release)
    assert assign_story_step(backend.sessions, bad, batch=8).method == "new"  # alone, once more
    # Assigned: the error goes, the count stays as the record of what it took.
    assert failures(backend, bad) == (None, 2)


def test_a_failed_article_is_cleared_when_a_batch_assigns_it_as_an_original(
    backend: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its copy (marked by the text step) takes its original along, in the copy's batch.
    original = extracted(backend, STRIKE_TITLE, STRIKE, hours=1)
    fail_on(monkeypatch, original, ValueError("bad data"))
    with pytest.raises(ValueError, match="bad data"):
        assign_story_step(backend.sessions, original, batch=8)
    monkeypatch.setattr("worker.stories.step.assign", assigner.assign)
    copy = add_article(
        backend.sessions, STRIKE_TITLE, STRIKE, hours=2, site="copy.example", duplicate_of=original
    )
    assert assign_story_step(backend.sessions, copy, batch=8).method == "exact"
    assert story_of(backend, original) == story_of(backend, copy) is not None
    assert failures(backend, original) == (None, 1)


def test_a_database_error_is_not_counted(
    backend: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The database going away is no fault of the article: the task retries it (autoretry_for),
    # and nothing is counted against it.
    article = extracted(backend, STRIKE_TITLE, STRIKE, hours=1)
    fail_on(monkeypatch, article, OperationalError("SELECT 1", {}, Exception("server closed")))
    with pytest.raises(OperationalError):
        assign_story_step(backend.sessions, article, batch=8)
    with pytest.raises(OperationalError):
        assign_story_step(backend.sessions, article)
    assert failures(backend, article) == (None, 0)


def test_a_long_error_is_cut_and_a_bare_one_named(
    backend: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    article = extracted(backend, STRIKE_TITLE, STRIKE, hours=1)
    fail_on(monkeypatch, article, RuntimeError("x" * 10_000))
    with pytest.raises(RuntimeError):
        assign_story_step(backend.sessions, article)
    error, attempts = failures(backend, article)
    assert attempts == 1 and error is not None
    assert error.startswith("RuntimeError: xxx")
    assert len(error) == story_module.DEFAULT_STORY_ERROR_CHARS
    fail_on(monkeypatch, article, KeyError())
    with pytest.raises(KeyError):
        assign_story_step(backend.sessions, article)
    assert failures(backend, article) == ("KeyError", 2)


def test_a_failure_that_cannot_be_recorded_still_raises_the_original(
    backend: Resources, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    article = extracted(backend, STRIKE_TITLE, STRIKE, hours=1)
    fail_on(monkeypatch, article, RuntimeError("the original"))

    def broken(*_: object) -> bool:
        raise OperationalError("UPDATE articles", {}, Exception("gone again"))

    monkeypatch.setattr(story_module, "record_story_failure", broken)
    with (
        caplog.at_level(logging.ERROR, logger="worker.pipeline.story"),
        pytest.raises(RuntimeError, match="the original"),
    ):
        assign_story_step(backend.sessions, article, batch=8)
    assert "could not record the story failure" in caplog.text
    assert failures(backend, article) == (None, 0)


def test_a_task_finding_its_article_done_takes_neither_lock_nor_batch(
    backend: Resources,
) -> None:
    first = extracted(backend, BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=1)
    second = extracted(backend, STRIKE_TITLE, STRIKE, hours=2)
    assign_story_step(backend.sessions, first, batch=8)  # takes the other one along
    with sql_statements(backend.engine) as statements:
        outcome = assign_story_step(backend.sessions, second, batch=8)
    assert (outcome.method, outcome.story_id) == ("done", story_of(backend, second))
    assert len(statements) == 1
    assert not any("advisory" in s for s in statements)


def test_a_task_that_must_not_wait_is_told_the_story_step_is_busy(
    tmp_path: Path, pg_url: str
) -> None:
    migrate(pg_url)
    rt = build_resources(make_settings(tmp_path, pg_url))
    article = extracted(rt, STRIKE_TITLE, STRIKE, hours=1)
    with session_scope(rt.sessions) as holder:
        lock_story_step(holder)  # another worker in the middle of a batch
        with pytest.raises(StoryStepBusy):
            assign_story_step(rt.sessions, article, batch=8, wait=False)
    assert story_of(rt, article) is None  # nothing done, nothing recorded against it
    assert failures(rt, article) == (None, 0)
    # Once the lock is free, the same call assigns it.
    assert assign_story_step(rt.sessions, article, batch=8, wait=False).method == "new"
    rt.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_story_wakeups_send_one_task_per_countdown_and_run() -> None:
    clock = _Clock()
    wakeups = StoryWakeups(margin_s=0.25, clock=clock)
    sent: list[str] = []

    def send(what: str) -> bool:
        return wakeups.send(
            run_id=None if what[0] == "a" else 7, delay=1.0, send=lambda: sent.append(what)
        )

    assert send("a1")  # none sent yet: this one, due at 1001.0
    clock.now = 1_000.7
    assert not send("a2")  # stored before 1000.75: the task due at 1001.0 finds it
    assert send("b1")  # another run's articles have their own task (it closes that run)
    clock.now = 1_000.8
    assert send("a3")  # too close to the end of the countdown: a task of its own
    clock.now = 1_001.5
    assert not send("a4")  # covered by a3's task, due at 1001.8
    # Without a countdown (no page pending) a task is always sent, and covers nothing after.
    assert wakeups.send(None, 0.0, lambda: sent.append("last"))
    assert sent == ["a1", "b1", "a3", "last"]


def test_story_wakeups_count_on_no_task_that_failed_to_send() -> None:
    wakeups = StoryWakeups(clock=_Clock())

    def broker_down() -> None:
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        wakeups.send(None, 1.0, broker_down)
    sent: list[int] = []
    assert wakeups.send(None, 1.0, lambda: sent.append(1))  # nothing covers it
    assert sent == [1]


def test_story_wakeups_forget_the_runs_whose_countdown_ended() -> None:
    clock = _Clock()
    wakeups = StoryWakeups(clock=clock)
    for run_id in range(story_module.DEFAULT_WAKEUP_RUNS * 3):
        clock.now += 2.0  # each run's countdown has ended when the next one's task is sent
        assert wakeups.send(run_id, 1.0, lambda: None)
    assert len(wakeups._due) <= story_module.DEFAULT_WAKEUP_RUNS
