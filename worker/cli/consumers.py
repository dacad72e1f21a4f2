"""Commands for consumers of the database: changes, export, runs."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from worker.cli._context import (
    JsonFlag,
    dumps,
    emit_table,
    fail,
    open_read_only,
    open_resources,
    print_json,
)

runs_app = typer.Typer(
    help="Ingest runs: worker lifetimes, one-off fetches, backfills.", rich_markup_mode=None
)


def changes(
    since: Annotated[
        int, typer.Option(help="Print changes with an id above this.", metavar="ID")
    ] = 0,
    follow: Annotated[bool, typer.Option(help="Keep streaming new changes.")] = False,
    kinds: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated kinds, e.g. article.created,story.merged.", metavar="KINDS"
        ),
    ] = None,
) -> None:
    """Print the change feed as JSON lines (NOTIFY-driven with --follow on Postgres).

    Reads only (a read-only database role will do). With --follow it rides out database
    restarts: it reconnects with back-off and goes on from the last change printed.
    """
    from worker.changefeed import iter_changes

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
_EXPORT_QUERY = """
    SELECT v.*, c.last_change_id FROM v_articles v
    JOIN (SELECT entity_id, MAX(id) AS last_change_id FROM changes
          WHERE id > :since AND kind LIKE 'article.%' GROUP BY entity_id) c
      ON c.entity_id = v.id
    ORDER BY c.last_change_id
"""


def export(
    since: Annotated[
        int, typer.Option(help="Articles changed after this change id.", metavar="ID")
    ] = 0,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = (
        ExportFormat.JSONL
    ),
) -> None:
    """Dump the articles created or changed after a change id (one row each, current state).

    Each row carries `last_change_id`: pass the largest as --since next time. Reads only (a
    read-only database role will do).
    """
    from sqlalchemy import text

    engine = open_read_only()
    try:
        with engine.connect() as conn:
            query = text(_EXPORT_QUERY)
            rows = [dict(r._mapping) for r in conn.execute(query, {"since": since})]
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


_RUN_FIELDS = ("id", "kind", "status", "started_at", "finished_at", "host", "pid", "heartbeat_at")


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option(help="Newest N runs.", metavar="N")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The newest runs."""
    from sqlalchemy import select

    from models import Run, session_scope

    rt = open_resources()
    with session_scope(rt.sessions) as session:
        runs = list(session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))
    if as_json:
        print_json([{name: getattr(run, name) for name in _RUN_FIELDS} for run in runs])
        return
    emit_table(
        ["id", "kind", "status", "started", "finished", "host", "pid"],
        (
            [
                str(run.id),
                run.kind,
                run.status,
                run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                run.finished_at.strftime("%Y-%m-%d %H:%M:%S") if run.finished_at else "-",
                run.host or "-",
                str(run.pid or "-"),
            ]
            for run in runs
        ),
    )


@runs_app.command("show")
def runs_show(
    run_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False
) -> None:
    """One run as JSON, with live counts of the articles it discovered."""
    from models import session_scope
    from worker.runs import run_summary

    del as_json  # accepted like on every show command; JSON is this command's only format
    rt = open_resources()
    with session_scope(rt.sessions) as session:
        summary = run_summary(session, run_id)
    if summary is None:
        raise fail(f"no run {run_id}")
    print_json(summary)
