"""Commands for consumers of the database: changes, export, runs."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select, text

from models import Run, session_scope
from worker.changefeed import iter_changes
from worker.cli._context import console, dumps, fail, open_read_only, open_runtime, print_json
from worker.runs import run_summary

runs_app = typer.Typer(help="Ingest runs: worker lifetimes, one-off fetches, backfills.")


def changes(
    since: Annotated[int, typer.Option(help="Print changes with an id above this.")] = 0,
    follow: Annotated[bool, typer.Option(help="Keep streaming new changes.")] = False,
    kinds: Annotated[
        str | None, typer.Option(help="Comma-separated kinds, e.g. article.created,story.merged.")
    ] = None,
) -> None:
    """Print the change feed as JSON lines (NOTIFY-driven with --follow on Postgres).

    Reads only (a read-only database role will do). With --follow it rides out database
    restarts: it reconnects with back-off and goes on from the last change printed.
    """
    engine = open_read_only()
    wanted = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else None
    try:
        for change in iter_changes(engine, since, kinds=wanted, follow=follow):
            sys.stdout.write(dumps(change.as_dict()) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


#: Columns of `storywire export` (the v_articles view, minus the full text in CSV).
_EXPORT_QUERY = text(
    """
    SELECT v.*, c.last_change_id FROM v_articles v
    JOIN (SELECT entity_id, MAX(id) AS last_change_id FROM changes
          WHERE id > :since AND kind LIKE 'article.%' GROUP BY entity_id) c
      ON c.entity_id = v.id
    ORDER BY c.last_change_id
    """
)


def export(
    since: Annotated[int, typer.Option(help="Articles changed after this change id.")] = 0,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = (
        ExportFormat.JSONL
    ),
) -> None:
    """Dump the articles created or changed after a change id (one row each, current state).

    Each row carries `last_change_id`: pass the largest as --since next time. Reads only (a
    read-only database role will do).
    """
    engine = open_read_only()
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(_EXPORT_QUERY, {"since": since})]
    finally:
        engine.dispose()
    if fmt is ExportFormat.JSONL:
        for row in rows:
            sys.stdout.write(dumps(row) + "\n")
        return
    writer = csv.writer(sys.stdout)
    if rows:
        writer.writerow(rows[0].keys())
        for row in rows:
            writer.writerow(_csv_value(v) for v in row.values())


def _csv_value(value: Any) -> Any:
    if isinstance(value, list | dict):
        return dumps(value)
    return value


@runs_app.command("list")
def runs_list(limit: Annotated[int, typer.Option(help="Newest N runs.")] = 20) -> None:
    """The newest runs."""
    rt = open_runtime()
    table = Table("id", "kind", "status", "started", "finished", "host", "pid")
    with session_scope(rt.sessions) as session:
        for run in session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)):
            table.add_row(
                str(run.id),
                run.kind,
                run.status,
                run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                run.finished_at.strftime("%Y-%m-%d %H:%M:%S") if run.finished_at else "-",
                run.host or "-",
                str(run.pid or "-"),
            )
    console.print(table)


@runs_app.command("show")
def runs_show(run_id: int) -> None:
    """One run as JSON, with live counts of the articles it discovered."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        summary = run_summary(session, run_id)
    if summary is None:
        raise fail(f"no run {run_id}")
    print_json(summary)
