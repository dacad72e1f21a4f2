"""``storywire fetch``: one-off fetch of some or all feeds, enqueued or inline."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from worker.cli._context import console, emit_table, fail, open_resources

if TYPE_CHECKING:
    from worker.pipeline.inline import InlineSummary
    from worker.resources import Resources

#: Default of ``--concurrency``: ``worker.pipeline.inline.DEFAULT_CONCURRENCY``, repeated here
#: so that ``--help`` does not import the pipeline (a test keeps the two equal).
DEFAULT_CONCURRENCY = 8
#: Bounds of ``--concurrency``: threads, each holding a connection to a host and one to the
#: database, so a typo such as 10000 must not open that many.
MIN_CONCURRENCY, MAX_CONCURRENCY = 1, 64


def fetch(
    refs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Feed ids or URLs (an unknown URL is registered first).", metavar="[FEED...]"
        ),
    ] = None,
    all_feeds: Annotated[bool, typer.Option("--all", help="Every active feed.")] = False,
    inline: Annotated[
        bool, typer.Option("--inline", help="Run the pipeline in this process, no broker.")
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            help=f"With --inline: hosts fetched at once ({MIN_CONCURRENCY}-{MAX_CONCURRENCY}; "
            "each host is still paced by the per-host rate limit)."
        ),
    ] = DEFAULT_CONCURRENCY,
) -> None:
    """Fetch feeds now. Exits 0 when it ran, even if some feeds failed (see the summary)."""
    if not refs and not all_feeds:
        raise fail("name feeds to fetch, or use --all", code=2)
    if not MIN_CONCURRENCY <= concurrency <= MAX_CONCURRENCY:
        raise fail(
            f"--concurrency {concurrency} is out of range: give {MIN_CONCURRENCY} to "
            f"{MAX_CONCURRENCY} hosts at once",
            code=2,
        )
    from sqlalchemy import select

    from models import Feed, FeedStatus, RunKind, RunStatus, session_scope
    from worker.cli.preflight import check_broker
    from worker.heartbeat import Heartbeat
    from worker.runs import finish_run, start_run
    from worker.store import add_feed, find_feed

    rt = open_resources()
    if not inline:
        check_broker(rt.settings)  # before a run is recorded that nothing could enqueue
    with session_scope(rt.sessions) as session:
        if all_feeds:
            feed_ids = list(
                session.execute(
                    select(Feed.id)
                    .where(Feed.status.in_([FeedStatus.ACTIVE, FeedStatus.ERRORING]))
                    .order_by(Feed.id)
                ).scalars()
            )
        else:
            feed_ids = []
            for ref in refs or []:
                feed = find_feed(session, ref)
                if feed is None:
                    if ref.isdigit():
                        raise fail(f"no feed with id {ref}")
                    try:
                        feed, _ = add_feed(session, ref)
                    except ValueError as exc:
                        raise fail(f"{ref}: {exc}") from exc
                feed_ids.append(feed.id)
    args = {"feeds": feed_ids, "inline": inline}
    # An inline run is this process's: it beats while it works. A queued one is finished by
    # the task that completes its work (or the sweeper).
    run_id = start_run(rt.sessions, RunKind.FETCH, args=args, beating=inline)
    console.print(f"run {run_id}")
    if inline:
        every_s = rt.settings.run_heartbeat_s
        try:
            with Heartbeat(rt.settings.sqlalchemy_url, run_id, every_s=every_s):
                summary = _run_inline_with_progress(rt, feed_ids, run_id, concurrency)
        except BaseException:
            finish_run(rt.sessions, run_id, status=RunStatus.FAILED)
            raise
        finish_run(rt.sessions, run_id, stats=dataclasses.asdict(summary))
        _print_summary(summary)
        rt.close()
        return
    _enqueue(rt, feed_ids, run_id)
    console.print(f"follow it with: storywire runs show {run_id}")


def _enqueue(rt: Resources, feed_ids: list[int], run_id: int) -> None:
    from models import RunStatus
    from worker.runs import finish_run
    from worker.tasks import fetch_feed

    for done, feed_id in enumerate(feed_ids):
        try:
            result = fetch_feed.delay(feed_id, run_id)
        except Exception as exc:
            # The broker is unreachable: the run will not happen (its sent tasks may still).
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            stats = {"enqueued": done, "error": error[:500]}
            finish_run(rt.sessions, run_id, status=RunStatus.FAILED, stats=stats)
            raise fail(f"run {run_id} failed: could not enqueue feed {feed_id}: {error}") from None
        console.print(f"feed {feed_id}: task {result.id}")


def _run_inline_with_progress(
    rt: Resources, feed_ids: list[int], run_id: int, concurrency: int
) -> InlineSummary:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from worker.pipeline.inline import run_inline

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        feeds_bar = progress.add_task("feeds", total=len(feed_ids))
        articles_bar = progress.add_task("articles", total=0)

        def on_progress(what: str, count: int) -> None:
            if what == "feed":
                progress.advance(feeds_bar)
                total = progress.tasks[articles_bar].total or 0
                progress.update(articles_bar, total=total + count)
            else:
                progress.advance(articles_bar, count)

        return run_inline(rt, feed_ids, on_progress, run_id=run_id, concurrency=concurrency)


def _print_summary(summary: InlineSummary) -> None:
    emit_table(
        ["feeds", "failed feeds", "new articles", "extracted", "failed", "pending", "duplicates"],
        [
            [
                str(summary.feeds),
                str(summary.feeds_failed),
                str(summary.new_articles),
                str(summary.articles_ok),
                str(summary.articles_failed),
                str(summary.articles_pending),
                str(summary.duplicates),
            ]
        ],
    )
    if summary.pending:
        reasons = ", ".join(f"{why} {count}" for why, count in summary.pending.items())
        console.print(
            f"pending (left for the worker or a later run), by reason: {reasons}", highlight=False
        )
    if summary.unreachable_hosts:
        hosts = sorted(summary.unreachable_hosts.items())
        listed = ", ".join(f"{host} ({why})" for host, why in hosts[:20])
        more = f" and {len(hosts) - 20} more" if len(hosts) > 20 else ""
        console.print(
            f"hosts not answering, skipped for the rest of the run: {listed}{more}",
            highlight=False,
        )
    for error in summary.errors[:50]:
        console.print(f"• {error}", markup=False, highlight=False)
    if len(summary.errors) > 50:
        console.print(f"… and {len(summary.errors) - 50} more (see `storywire feeds list`)")
