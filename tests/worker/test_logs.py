"""Library log levels are set at start-up (worker, CLI), never as a side effect of an import."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.processes import run_python
from worker.cli import app
from worker.logs import DEFAULT_QUIET_LOGGERS, configure_logging


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
