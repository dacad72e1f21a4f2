"""``storywire feeds``: add, import, export, list, log, remove, disable, enable."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from worker.cli._context import (
    JsonFlag,
    console,
    emit_table,
    err_console,
    fail,
    open_resources,
    print_json,
    settings,
)

if TYPE_CHECKING:
    from models import Feed

feeds_app = typer.Typer(
    help="Manage the feeds that are polled.", no_args_is_help=True, rich_markup_mode=None
)


@feeds_app.command("add")
def feeds_add(
    urls: Annotated[list[str], typer.Argument(help="Feed or site URL(s).", metavar="URL...")],
    title: Annotated[
        str | None, typer.Option(help="Title (else taken from the feed).", metavar="TEXT")
    ] = None,
    add_all: Annotated[
        bool, typer.Option("--all", help="Add every feed a page names (default: the first).")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="Fetch each URL first: a feed is added, a web page's feeds are found.",
        ),
    ] = True,
) -> None:
    """Register feeds. A site or page URL is searched for its feeds (<link rel="alternate">,
    then the usual paths). Adding a known URL again changes nothing.

    Every URL is checked before anything is added: if any is unusable, each one is listed
    with why, and nothing is added (exit 2).
    """
    from worker.cli._feed_checks import FeedPlan, resolve_feed, syntax_or_destination_problem
    from worker.urls import redact_credentials

    current = settings()
    plans = [
        FeedPlan(url, problem=problem)
        if (problem := syntax_or_destination_problem(url, current))
        else FeedPlan(url, feeds=[(url, title)])
        for url in urls
    ]
    if check:
        from worker.fetch import Fetcher

        with Fetcher(current) as fetcher:
            plans = [
                plan if plan.problem else resolve_feed(fetcher, plan.given, add_all=add_all)
                for plan in plans
            ]
    problems = [plan.problem for plan in plans if plan.problem]
    if problems:
        for problem in problems:
            err_console.print(
                redact_credentials(problem), markup=False, highlight=False, soft_wrap=True
            )
        count = "1 URL" if len(problems) == 1 else f"{len(problems)} URLs"
        raise fail(f"{count} cannot be added; nothing was added", code=2)
    _register(plans, title)


def _register(plans: list[Any], title: str | None) -> None:
    from models import session_scope
    from worker.store import add_feed
    from worker.urls import redact_credentials

    rt = open_resources()
    with session_scope(rt.sessions) as session:
        for plan in plans:
            if plan.note:
                err_console.print(
                    f"warning: {plan.note}", markup=False, highlight=False, soft_wrap=True
                )
            for url, found_title in plan.feeds:
                feed, created = add_feed(session, url, title=title or found_title)
                state = "added" if created else "already registered"
                if url != plan.given:
                    state += f" (found on {redact_credentials(plan.given)})"
                typer.echo(f"{feed.id}\t{feed.url}\t{state}")
            if plan.skipped:
                others = ", ".join(plan.skipped)
                err_console.print(
                    f"{redact_credentials(plan.given)} names {len(plan.skipped)} more: "
                    f"{others} (--all adds them)",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
    rt.close()


@feeds_app.command("import")
def feeds_import(
    path: Annotated[Path, typer.Argument(help="OPML file.", exists=True, metavar="FILE.opml")],
) -> None:
    """Register every feed of an OPML file (nested outlines included)."""
    from models import session_scope
    from worker.feeds import read_opml
    from worker.store import add_feed
    from worker.urls import redact_credentials

    try:
        outlines = read_opml(path.read_bytes())
    except ValueError as exc:
        raise fail(f"{path}: not a usable OPML file: {exc}") from exc
    rt = open_resources()
    added = known = invalid = 0
    with session_scope(rt.sessions) as session:
        for outline in outlines:
            try:
                _, created = add_feed(session, outline.url, title=outline.title)
            except ValueError as exc:
                invalid += 1
                err_console.print(
                    redact_credentials(f"skipped {outline.url}: {exc}"),
                    markup=False,
                    highlight=False,
                )
                continue
            added += created
            known += not created
    console.print(f"{added} added, {known} already registered, {invalid} invalid")


@feeds_app.command("export")
def feeds_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (else stdout).", metavar="FILE")
    ] = None,
) -> None:
    """Write every feed as OPML."""
    from sqlalchemy import select

    from models import Feed, session_scope
    from worker.feeds import OpmlOutline, write_opml

    rt = open_resources()
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


#: Colour of each ``FeedStatus`` (by value: the models are imported by the commands only).
_STATUS_STYLE = {"active": "green", "erroring": "yellow", "gone": "red", "disabled": "dim"}
#: Columns of a feed in `feeds list --json` (and `feeds log --json`'s "feed").
_FEED_FIELDS = (
    "id", "url", "title", "site_url", "status", "consecutive_errors", "last_error",
    "last_error_class", "last_status_code", "last_fetched_at", "last_success_at",
    "last_duration_ms", "last_bytes", "last_entries_seen", "last_entries_new",
    "check_interval_s", "next_check_at",
)  # fmt: skip
_FETCH_FIELDS = (
    "started_at", "outcome", "status_code", "duration_ms", "bytes", "entries_seen",
    "entries_new", "error_class", "error_message",
)  # fmt: skip


def _next_check(feed: Feed, now: datetime) -> str:
    from models import FeedStatus

    polled = feed.status in (FeedStatus.ACTIVE, FeedStatus.ERRORING)
    return _ago(feed.next_check_at, now) if polled else "never"


@feeds_app.command("list")
def feeds_list(
    errors: Annotated[
        bool, typer.Option("--errors", help="Only feeds that are failing or gone, with why.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Feeds with their health: status, last fetch and its result, errors, next check."""
    from sqlalchemy import select

    from models import Feed, FeedStatus, session_scope, utcnow

    rt = open_resources()
    now = utcnow()
    query = select(Feed).order_by(Feed.id)
    if errors:
        query = query.where(
            (Feed.consecutive_errors > 0) | Feed.status.in_([FeedStatus.GONE, FeedStatus.ERRORING])
        )
    with session_scope(rt.sessions) as session:
        feeds = list(session.execute(query).scalars())
    if as_json:
        print_json([{name: getattr(f, name) for name in _FEED_FIELDS} for f in feeds])
        return
    columns = [
        "id", "url", "status", "last fetch", "result", "took", "size", "new/seen", "errors",
        "next check",
    ]  # fmt: skip
    rows = []
    for feed in feeds:
        row: list[str | Text] = [
            str(feed.id),
            feed.url,
            Text(feed.status, style=_STATUS_STYLE.get(feed.status, "")),
            _ago(feed.last_fetched_at, now),
            _result(feed.last_status_code, feed.last_error_class),
            _ms(feed.last_duration_ms),
            _size(feed.last_bytes),
            f"{_count(feed.last_entries_new)}/{_count(feed.last_entries_seen)}",
            str(feed.consecutive_errors),
            _next_check(feed, now),
        ]
        if errors:
            row.append((feed.last_error or "")[:300])
        rows.append(row)
    emit_table([*columns, "last error"] if errors else columns, rows)


@feeds_app.command("log")
def feeds_log(
    ref: Annotated[str, typer.Argument(help="Feed id or URL.", metavar="FEED")],
    limit: Annotated[int, typer.Option(help="Newest fetches shown.", metavar="N")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The fetch log of one feed, newest first: every fetch's outcome, status, time, size."""
    from sqlalchemy import select

    from models import FeedFetch, session_scope, utcnow
    from worker.store import find_feed

    rt = open_resources()
    now = utcnow()
    with session_scope(rt.sessions) as session:
        feed = find_feed(session, ref)
        if feed is None:
            raise fail(f"no feed {ref!r}")
        fetches = list(
            session.execute(
                select(FeedFetch)
                .where(FeedFetch.feed_id == feed.id)
                .order_by(FeedFetch.id.desc())
                .limit(limit)
            ).scalars()
        )
    if as_json:
        print_json(
            {
                "feed": {name: getattr(feed, name) for name in _FEED_FIELDS},
                "fetches": [{n: getattr(f, n) for n in _FETCH_FIELDS} for f in fetches],
            }
        )
        return
    typer.echo(
        f"{feed.id}\t{feed.url}\t{feed.status}\t{feed.consecutive_errors} consecutive errors"
        f"\tnext check {_next_check(feed, now)}"
    )
    emit_table(
        ["when", "outcome", "result", "took", "size", "new/seen", "error"],
        (
            [
                _ago(fetch.started_at, now),
                fetch.outcome,
                _result(fetch.status_code, fetch.error_class),
                _ms(fetch.duration_ms),
                _size(fetch.bytes),
                f"{_count(fetch.entries_new)}/{_count(fetch.entries_seen)}",
                (fetch.error_message or "")[:300],
            ]
            for fetch in fetches
        ),
    )


FeedRefs = Annotated[list[str], typer.Argument(help="Feed ids or URLs.", metavar="FEED...")]


@feeds_app.command("remove")
def feeds_remove(refs: FeedRefs) -> None:
    """Remove feeds (their articles stay)."""
    from worker.store import remove_feed

    for feed in _each_feed(refs, remove_feed):
        typer.echo(f"removed {feed.id}\t{feed.url}")


@feeds_app.command("disable")
def feeds_disable(refs: FeedRefs) -> None:
    """Stop polling feeds (kept, with their articles and history; `enable` resumes)."""
    from worker.store import disable_feed

    for feed in _each_feed(refs, disable_feed):
        typer.echo(f"disabled {feed.id}\t{feed.url}")


@feeds_app.command("enable")
def feeds_enable(refs: FeedRefs) -> None:
    """Poll disabled (or gone) feeds again, starting now, with a clean error count."""
    from worker.store import enable_feed

    for feed in _each_feed(refs, enable_feed):
        typer.echo(f"enabled {feed.id}\t{feed.url}")


def _each_feed(refs: list[str], apply: Any) -> list[Feed]:
    """Find every feed first (an unknown one fails the command before any change), then
    ``apply(session, feed)`` to each in one transaction."""
    from models import session_scope
    from worker.store import find_feed

    rt = open_resources()
    with session_scope(rt.sessions) as session:
        found = [(ref, find_feed(session, ref)) for ref in refs]
        missing = [ref for ref, feed in found if feed is None]
        if missing:
            raise fail(f"no feed {', '.join(repr(m) for m in missing)}; nothing was changed")
        feeds = [feed for _, feed in found if feed is not None]
        for feed in feeds:
            apply(session, feed)
    rt.close()
    return feeds
