"""Shared helpers of the CLI commands: settings, runtime, output."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from sqlalchemy import Engine, inspect

from models import make_engine
from worker.cli.checks import check_database, ensure_data_dir
from worker.cli.errors import err_console, print_error
from worker.config import Settings, get_settings
from worker.migrations import upgrade
from worker.runtime import Runtime, build_runtime

# Piped output is read by programs and grep: keep whole URLs rather than Rich's 80 columns.
_PIPE_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "200"))
console = Console(width=_PIPE_WIDTH)

__all__ = ["err_console"]  # re-exported for the commands


def settings() -> Settings:
    return get_settings()


def open_runtime(*, migrate: bool = True) -> Runtime:
    """A runtime for one CLI command; the embedded database is migrated on first use."""
    current = settings()
    if current.database_url is None or current.redis_url is None:
        ensure_data_dir(current)  # the embedded database, the host-rate file
    check_database(current.sqlalchemy_url)
    if migrate and current.auto_migrate:
        upgrade(current.sqlalchemy_url)
    return build_runtime(current)


def open_read_only() -> Engine:
    """An engine for a consumer command (``changes``, ``export``): it never migrates nor
    creates anything, so it works under a role that may only read."""
    url = settings().sqlalchemy_url
    check_database(url, must_exist=True)
    engine = make_engine(url)
    # The catalog, not alembic_version: a consumer's role may read the contract tables only.
    if not inspect(engine).has_table("changes"):
        engine.dispose()
        raise fail(
            "the database has no Storywire tables: run `storywire db upgrade` first "
            "(consumer commands never write)",
            code=2,
        )
    return engine


def fail(message: str, code: int = 1) -> typer.Exit:
    print_error(message)
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
