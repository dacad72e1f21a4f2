"""``storywire feeds``: add, import, export, list, log, remove."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from models import Feed, FeedFetch, FeedStatus, session_scope, utcnow
from worker.cli._context import console, fail, open_runtime
from worker.feeds import OpmlOutline, read_opml, write_opml
from worker.store import add_feed, find_feed, remove_feed
from worker.urls import redact_credentials

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
                raise fail(redact_credentials(f"{url}: {exc}")) from exc
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
                reason = escape(redact_credentials(f"{outline.url}: {exc}"))
                console.print(f"[yellow]skipped[/yellow] {reason}")
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


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, factor in (("MB", 1 << 20), ("kB", 1 << 10)):
        if value >= factor:
            return f"{value / factor:.1f} {unit}"
    return f"{value} B"


def _ms(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value} ms"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _result(status_code: int | None, error_class: str | None) -> str:
    """``200``, ``304``, ``http_503``, ``connect``...: the status, or the error's class."""
    if error_class:
        return error_class
    return str(status_code) if status_code else "-"


_STATUS_STYLE = {"active": "green", "erroring": "yellow", "gone": "red", "disabled": "dim"}


@feeds_app.command("list")
def feeds_list(
    errors: Annotated[
        bool, typer.Option("--errors", help="Only feeds that are failing or gone, with why.")
    ] = False,
) -> None:
    """Feeds with their health: status, last fetch and its result, errors, next check."""
    rt = open_runtime()
    now = utcnow()
    table = Table(
        "id", "url", "status", "last fetch", "result", "took", "size", "new/seen", "errors",
        "next check",
    )  # fmt: skip
    if errors:
        table.add_column("last error", overflow="fold")
    query = select(Feed).order_by(Feed.id)
    if errors:
        query = query.where(
            (Feed.consecutive_errors > 0) | Feed.status.in_([FeedStatus.GONE, FeedStatus.ERRORING])
        )
    with session_scope(rt.sessions) as session:
        for feed in session.execute(query).scalars():
            style = _STATUS_STYLE.get(feed.status, "")
            row = [
                str(feed.id),
                escape(feed.url),
                f"[{style}]{feed.status}[/{style}]" if style else feed.status,
                _ago(feed.last_fetched_at, now),
                _result(feed.last_status_code, feed.last_error_class),
                _ms(feed.last_duration_ms),
                _size(feed.last_bytes),
                f"{_count(feed.last_entries_new)}/{_count(feed.last_entries_seen)}",
                str(feed.consecutive_errors),
                _ago(feed.next_check_at, now) if feed.status in ("active", "erroring") else "never",
            ]
            if errors:
                row.append(escape((feed.last_error or "")[:300]))
            table.add_row(*row)
    console.print(table)


@feeds_app.command("log")
def feeds_log(
    ref: Annotated[str, typer.Argument(help="Feed id or URL.")],
    limit: Annotated[int, typer.Option(help="Newest fetches shown.")] = 20,
) -> None:
    """The fetch log of one feed, newest first: every fetch's outcome, status, time, size."""
    rt = open_runtime()
    now = utcnow()
    with session_scope(rt.sessions) as session:
        feed = find_feed(session, ref)
        if feed is None:
            raise fail(f"no feed {ref!r}")
        fetches = session.execute(
            select(FeedFetch)
            .where(FeedFetch.feed_id == feed.id)
            .order_by(FeedFetch.id.desc())
            .limit(limit)
        ).scalars()
        console.print(
            f"{feed.id}\t{escape(feed.url)}\t{feed.status}\t"
            f"{feed.consecutive_errors} consecutive errors\tnext check "
            f"{_ago(feed.next_check_at, now) if feed.status in ('active', 'erroring') else 'never'}"
        )
        table = Table("when", "outcome", "result", "took", "size", "new/seen", "error")
        for fetch in fetches:
            table.add_row(
                _ago(fetch.started_at, now),
                fetch.outcome,
                _result(fetch.status_code, fetch.error_class),
                _ms(fetch.duration_ms),
                _size(fetch.bytes),
                f"{_count(fetch.entries_new)}/{_count(fetch.entries_seen)}",
                escape((fetch.error_message or "")[:300]),
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
