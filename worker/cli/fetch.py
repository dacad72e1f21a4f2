"""``storywire fetch``: one-off fetch of some or all feeds, enqueued or inline."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from worker.cli._context import console, emit_table, fail, open_runtime

if TYPE_CHECKING:
    from worker.pipeline.inline import InlineSummary
    from worker.runtime import Runtime


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
) -> None:
    """Fetch feeds now. Exits 0 when it ran, even if some feeds failed (see the summary)."""
    if not refs and not all_feeds:
        raise fail("name feeds to fetch, or use --all", code=2)
    from sqlalchemy import select

    from models import Feed, FeedStatus, RunKind, session_scope
    from worker.cli.checks import check_broker
    from worker.runs import finish_run, start_run
    from worker.store import add_feed, find_feed

    rt = open_runtime()
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
    run_id = start_run(rt.sessions, RunKind.FETCH, args={"feeds": feed_ids, "inline": inline})
    console.print(f"run {run_id}")
    if inline:
        try:
            summary = _run_inline_with_progress(rt, feed_ids, run_id)
        except BaseException:
            finish_run(rt.sessions, run_id, status="failed")
            raise
        finish_run(rt.sessions, run_id, stats=dataclasses.asdict(summary))
        _print_summary(summary)
        rt.close()
        return
    from worker.tasks import fetch_feed

    for feed_id in feed_ids:
        result = fetch_feed.delay(feed_id, run_id)
        console.print(f"feed {feed_id}: task {result.id}")
    console.print(f"follow it with: storywire runs show {run_id}")


def _run_inline_with_progress(rt: Runtime, feed_ids: list[int], run_id: int) -> InlineSummary:
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

        return run_inline(rt, feed_ids, on_progress, run_id=run_id)


def _print_summary(summary: InlineSummary) -> None:
    emit_table(
        ["feeds", "failed feeds", "new articles", "extracted", "failed", "duplicates"],
        [
            [
                str(summary.feeds),
                str(summary.feeds_failed),
                str(summary.new_articles),
                str(summary.articles_ok),
                str(summary.articles_failed),
                str(summary.duplicates),
            ]
        ],
    )
    for error in summary.errors[:50]:
        console.print(f"• {error}", markup=False, highlight=False)
    if len(summary.errors) > 50:
        console.print(f"… and {len(summary.errors) - 50} more (see `storywire feeds list`)")
