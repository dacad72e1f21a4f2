"""Shared helpers of the CLI commands: settings, resources, output.

Nothing heavy is imported here at module level (SQLAlchemy, Celery, the pipeline): every
command pays only for what it uses, and ``storywire --help`` starts at once.

Output conventions: tables on a terminal, tab-separated lines (a header, then one line per
row, no box, no colour) when stdout is a pipe or a file; ``--json`` on every list and show
command prints JSON instead.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from worker.cli.errors import err_console, print_error

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from worker.config import Settings
    from worker.resources import Resources

# Piped output is read by programs and grep: keep whole URLs rather than Rich's 80 columns.
_PIPE_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "200"))
console = Console(width=_PIPE_WIDTH)

__all__ = ["err_console"]  # re-exported for the commands

#: ``--json`` of the list and show commands.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def settings() -> Settings:
    from worker.config import get_settings

    return get_settings()


def open_resources(*, migrate: bool = True) -> Resources:
    """The resources of one CLI command; the embedded database is migrated on first use."""
    from worker.cli.preflight import check_database, ensure_data_dir
    from worker.migrations import upgrade
    from worker.resources import build_resources

    current = settings()
    if current.database_url is None or current.redis_url is None:
        ensure_data_dir(current)  # the embedded database, the host-rate file
    check_database(current.sqlalchemy_url)
    if migrate and current.auto_migrate:
        upgrade(current.sqlalchemy_url)
    return build_resources(current)


def open_read_only() -> Engine:
    """An engine for a consumer command (``changes``, ``export``): it never migrates nor
    creates anything, so it works under a role that may only read."""
    from sqlalchemy import inspect

    from models import make_engine
    from worker.cli.preflight import check_database

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


Cell = str | Text


def emit_table(columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> None:
    """A table on a terminal; on a pipe, tab-separated lines: the header, then the rows.

    Cells are plain strings (never read as markup) or ``rich.text.Text`` for colour.
    """
    if console.is_terminal:
        from rich.table import Table

        table = Table(*columns)
        for row in rows:
            table.add_row(*(Text(c) if isinstance(c, str) else c for c in row))
        console.print(table)
        return
    out = sys.stdout
    out.write("\t".join(columns) + "\n")
    for row in rows:
        out.write("\t".join(_plain(c) for c in row) + "\n")
    out.flush()


def _plain(cell: Cell) -> str:
    text = cell.plain if isinstance(cell, Text) else cell
    # A tab or newline inside a cell would break the columns of the line.
    return text.replace("\t", " ").replace("\n", " ")
