"""worker/logs.py: an idle tick is quiet at INFO (Celery's lines about routine periodic tasks
are DEBUG), and library log levels are set at start-up (worker, CLI), never as a side effect
of an import."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.processes import run_python
from worker.cli import app
from worker.logs import DEFAULT_QUIET_LOGGERS, configure_logging

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
def _restore_root() -> Iterator[None]:
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


@pytest.fixture
def untouched_levels() -> Iterator[None]:
    """The quiet loggers reset to NOTSET for the test, their levels restored after it."""
    loggers = [logging.getLogger(name) for name in DEFAULT_QUIET_LOGGERS]
    saved = [logger.level for logger in loggers]
    root = logging.getLogger()
    root_handlers, root_level = root.handlers[:], root.level
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
    yield
    for logger, level in zip(loggers, saved, strict=True):
        logger.setLevel(level)
    root.handlers[:], root.level = root_handlers, root_level


def test_importing_the_extractor_leaves_library_log_levels_alone() -> None:
    # A fresh interpreter: this test process has long imported everything. The libraries
    # may set their own levels (trafilatura sets htmldate's): ours must add nothing to that.
    code = (
        "import logging, trafilatura, htmldate, httpx\n"
        "levels = lambda: [logging.getLogger(n).level for n in ('trafilatura', 'htmldate')]\n"
        "before = levels()\n"
        "import worker.extract, worker.pipeline\n"
        "print(before == levels(), levels())"
    )
    out = run_python(code)
    assert out.startswith("True"), out


@pytest.mark.usefixtures("untouched_levels")
def test_worker_logging_setup_quiets_the_libraries() -> None:
    configure_logging("INFO")
    for name, level in DEFAULT_QUIET_LOGGERS.items():
        assert logging.getLogger(name).level == level, name


@pytest.mark.usefixtures("untouched_levels")
def test_every_cli_command_quiets_the_libraries_first(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["extract", str(tmp_path / "missing.html")])
    assert result.exit_code == 1  # the command ran (and refused the missing file)
    assert logging.getLogger("trafilatura").level == logging.CRITICAL
    assert logging.getLogger("htmldate").level == logging.CRITICAL
