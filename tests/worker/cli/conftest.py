"""Fixtures of the CLI tests: Typer's runner on embedded defaults, allowed to reach 127.0.0.1."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from worker.cli import app
from worker.config import get_settings


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("STORYWIRE_ALLOW_PRIVATE_NETWORKS", "1")
    monkeypatch.setenv("STORYWIRE_HOST_RATE_PER_S", "1000")
    get_settings.cache_clear()
    return CliRunner()


def ok(cli: CliRunner, *args: str) -> str:
    """Run ``storywire ARGS``; fail with its output unless it exits 0."""
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output
