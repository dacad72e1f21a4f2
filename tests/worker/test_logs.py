"""An idle tick is quiet at INFO: Celery's lines about routine periodic tasks are DEBUG."""

from __future__ import annotations

import logging

import pytest

from worker.logs import configure_logging

LINES = (
    ("celery.beat", "Scheduler: Sending due task %s (%s)", ("dispatch-due-feeds", "x")),
    ("celery.worker.strategy", "Task %s[%s] received", ("worker.tasks.dispatch_due_feeds", "1")),
    ("celery.app.trace", "Task %s[%s] succeeded in %ss: %r", ("worker.tasks.sweep", "2", 0.1, 0)),
)


def _emit() -> None:
    for name, message, args in LINES:
        logging.getLogger(name).info(message, *args)
    logging.getLogger("celery.app.trace").info("Task worker.tasks.fetch_feed[3] succeeded")
    logging.getLogger("celery.app.trace").error("Task worker.tasks.sweep[4] raised")


@pytest.fixture(autouse=True)
def _restore_root() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_routine_ticks_are_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    _emit()
    err = capsys.readouterr().err
    assert "dispatch" not in err
    assert "fetch_feed[3] succeeded" in err  # real work stays at INFO
    assert "sweep[4] raised" in err  # and failures are never hidden

    configure_logging("DEBUG")
    _emit()
    err = capsys.readouterr().err
    assert err.count("[debug") == 3, err
    assert "dispatch-due-feeds" in err and "sweep[2] succeeded" in err
