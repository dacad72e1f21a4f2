"""``storywire feeds``: add, import, export, list, remove."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from models import Feed, session_scope, utcnow
from worker.cli._context import console, fail, open_runtime
from worker.feeds import OpmlOutline, read_opml, write_opml
from worker.store import add_feed, find_feed, remove_feed

feeds_app = typer.Typer(help="Manage the feeds that are polled.", no_args_is_help=True)


@feeds_app.command("add")
def feeds_add(
    urls: Annotated[list[str], typer.Argument(help="Feed URL(s).")],
    title: Annotated[str | None, typer.Option(help="Title (else taken from the feed).")] = None,
) -> None:
    """Register feeds. Adding a known URL again changes nothing."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        for url in urls:
            try:
                feed, created = add_feed(session, url, title=title)
            except ValueError as exc:
                raise fail(f"{url}: {exc}") from exc
            state = "added" if created else "already registered"
            console.print(f"{feed.id}\t{feed.url}\t{state}")


@feeds_app.command("import")
def feeds_import(path: Annotated[Path, typer.Argument(help="OPML file.", exists=True)]) -> None:
    """Register every feed of an OPML file (nested outlines included)."""
    try:
        outlines = read_opml(path.read_bytes())
    except ValueError as exc:
        raise fail(f"{path}: not a usable OPML file: {exc}") from exc
    rt = open_runtime()
    added = known = invalid = 0
    with session_scope(rt.sessions) as session:
        for outline in outlines:
            try:
                _, created = add_feed(session, outline.url, title=outline.title)
            except ValueError as exc:
                invalid += 1
                console.print(f"[yellow]skipped[/yellow] {outline.url}: {exc}")
                continue
            added += created
            known += not created
    console.print(f"{added} added, {known} already registered, {invalid} invalid")


@feeds_app.command("export")
def feeds_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (else stdout).")
    ] = None,
) -> None:
    """Write every feed as OPML."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        feeds = session.execute(select(Feed).order_by(Feed.id)).scalars().all()
        data = write_opml(OpmlOutline(f.url, f.title, f.site_url) for f in feeds)
    if output is None:
        typer.echo(data.decode("utf-8"), nl=False)
    else:
        output.write_bytes(data)


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = int((now - moment).total_seconds())
    sign, seconds = ("in ", -seconds) if seconds < 0 else ("", seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{seconds // size}{unit}"
            break
    else:
        text = f"{seconds}s"
    return f"{sign}{text}" if sign else f"{text} ago"


@feeds_app.command("list")
def feeds_list() -> None:
    """Feeds with their health: status, last fetch, errors, next check."""
    rt = open_runtime()
    now = utcnow()
    table = Table("id", "url", "status", "last fetch", "result", "new", "errors", "next check")
    with session_scope(rt.sessions) as session:
        for feed in session.execute(select(Feed).order_by(Feed.id)).scalars():
            result = feed.last_error_class or (
                str(feed.last_status_code) if feed.last_status_code else "-"
            )
            table.add_row(
                str(feed.id),
                feed.url,
                feed.status,
                _ago(feed.last_fetched_at, now),
                result,
                "-" if feed.last_entries_new is None else str(feed.last_entries_new),
                str(feed.consecutive_errors),
                _ago(feed.next_check_at, now) if feed.status in ("active", "erroring") else "never",
            )
    console.print(table)


@feeds_app.command("remove")
def feeds_remove(
    refs: Annotated[list[str], typer.Argument(help="Feed ids or URLs.")],
) -> None:
    """Remove feeds (their articles stay)."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        for ref in refs:
            feed = find_feed(session, ref)
            if feed is None:
                raise fail(f"no feed {ref!r}")
            remove_feed(session, feed)
            console.print(f"removed {feed.id}\t{feed.url}")
