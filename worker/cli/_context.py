"""Shared helpers of the CLI commands: settings, runtime, output."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

import typer
from rich.console import Console

from worker.config import Settings, get_settings
from worker.migrations import upgrade
from worker.runtime import Runtime, build_runtime

# Piped output is read by programs and grep: keep whole URLs rather than Rich's 80 columns.
_PIPE_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "200"))
console = Console(width=_PIPE_WIDTH)
err_console = Console(stderr=True)


def settings() -> Settings:
    return get_settings()


def open_runtime(*, migrate: bool = True) -> Runtime:
    """A runtime for one CLI command; the embedded database is migrated on first use."""
    current = settings()
    if migrate and current.auto_migrate:
        upgrade(current.sqlalchemy_url)
    return build_runtime(current)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, indent=indent)


def print_json(value: Any) -> None:
    # Plain print, not Rich: output must stay valid JSON when piped.
    typer.echo(dumps(value, indent=2))
