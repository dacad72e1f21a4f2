"""``storywire cluster`` (offline backfill) and ``storywire stories list|show|retry``."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worker.cli._context import JsonFlag, emit_table, err_console, fail, open_resources, print_json

if TYPE_CHECKING:
    from worker.pipeline.backfill_input import BackfillPlan

stories_app = typer.Typer(
    help="Stories: one per real-world event.", no_args_is_help=True, rich_markup_mode=None
)

#: Unusable input lines of ``storywire cluster`` shown one by one (the rest are counted).
DEFAULT_ERRORS_SHOWN = 20


def cluster(
    path: Annotated[
        Path,
        typer.Argument(
            help="JSON lines: id, title, text, published_at?, url?, source?", metavar="FILE.jsonl"
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write results here (else stdout).", metavar="FILE"),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Keep the result in this database (else a temporary one).",
            metavar="URL",
        ),
    ] = None,
) -> None:
    """Group documents into stories offline, through the worker's own story step.

    Prints one line per document: {"id", "story_id", "duplicate_of"}, in publication order.
    """
    from models import RunKind, RunStatus
    from worker.cli.preflight import check_database
    from worker.config import Settings, check_database_url, get_settings
    from worker.migrations import upgrade
    from worker.pipeline.backfill import backfill
    from worker.pipeline.story import story_config
    from worker.resources import build_resources
    from worker.runs import finish_run, start_run

    if database_url:
        try:
            database_url = check_database_url(database_url)
        except ValueError as exc:
            raise fail(f"--database-url: {exc}", code=2) from exc
        check_database(database_url)
    found = _plan(path)
    with tempfile.TemporaryDirectory(prefix="storywire-cluster-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'cluster.db'}"
        upgrade(url)
        settings: Settings = get_settings().model_copy(update={"database_url": url})
        rt = build_resources(settings)
        run_id = start_run(rt.sessions, RunKind.BACKFILL, args={"file": str(path)})
        err_console.print(f"run {run_id}: {len(found.lines)} documents")
        try:
            with _progress(len(found.lines)) as advance, path.open("rb") as file:
                results = backfill(
                    rt.sessions,
                    found.docs(file),
                    run_id=run_id,
                    config=story_config(settings),
                    on_progress=advance,
                    refine_max_articles=settings.refine_max_articles,
                )
        except BaseException:
            finish_run(rt.sessions, run_id, status=RunStatus.FAILED)
            rt.close()
            raise
        stories = len({r.story_id for r in results if r.story_id is not None})
        finish_run(rt.sessions, run_id, stats={"documents": len(results), "stories": stories})
        rt.close()
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        for result in results:
            out.write(
                json.dumps(
                    {
                        "id": result.id,
                        "story_id": result.story_id,
                        "duplicate_of": result.duplicate_of,
                    }
                )
                + "\n"
            )
    finally:
        if output:
            out.close()
    err_console.print(f"{len(results)} documents, {stories} stories")


def _plan(path: Path) -> BackfillPlan:
    """The file's documents in publication order; every unusable line is reported (the first
    ones) before exiting, so that nothing is clustered from a file with errors."""
    from worker.pipeline.backfill_input import plan

    if not path.is_file():
        raise fail(f"{path}: no such file")
    with path.open("rb") as file:
        found = plan(file)
    if found.errors:
        for error in found.errors[:DEFAULT_ERRORS_SHOWN]:
            line = f"{path}:{error.line}: {error.reason}"
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        if len(found.errors) > DEFAULT_ERRORS_SHOWN:
            err_console.print(f"... and {len(found.errors) - DEFAULT_ERRORS_SHOWN} more")
        errors = len(found.errors)
        count = "1 unusable line" if errors == 1 else f"{errors} unusable lines"
        raise fail(f"{path}: {count}; nothing was clustered")
    return found


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal, nothing otherwise (the output may be a pipe)."""
    if not err_console.is_terminal:
        yield lambda _n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("stories"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("stories", total=total)
        yield lambda n: bar.advance(task, n)


_STORY_FIELDS = ("id", "headline", "article_count", "outlet_count", "first_published_at",
                 "last_published_at", "keywords", "language")  # fmt: skip


@stories_app.command("list")
def stories_list(
    since: Annotated[
        datetime | None,
        typer.Option(help="Only stories with an article published since.", metavar="DATE"),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most N stories, newest first.", metavar="N")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Live stories (merged ones left out), most recently active first."""
    from sqlalchemy import select

    from models import Story, session_scope

    rt = open_resources()
    query = (
        select(Story)
        .where(Story.merged_into.is_(None))
        .order_by(Story.last_published_at.desc().nulls_last(), Story.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Story.last_published_at >= _aware(since))
    with session_scope(rt.sessions) as session:
        stories = list(session.scalars(query))
    if as_json:
        print_json([{name: getattr(s, name) for name in _STORY_FIELDS} for s in stories])
        return
    emit_table(
        ["id", "articles", "outlets", "first", "last", "headline"],
        (
            [
                str(story.id),
                str(story.article_count),
                str(story.outlet_count),
                _day(story.first_published_at),
                _day(story.last_published_at),
                story.headline or "",
            ]
            for story in stories
        ),
    )


@stories_app.command("show")
def stories_show(
    story_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False
) -> None:
    """One story as JSON: its articles and outlets (a merged id shows the surviving story)."""
    from sqlalchemy import select

    from models import Article, Story, session_scope

    del as_json  # accepted like on every show command; JSON is this command's only format
    rt = open_resources()
    with session_scope(rt.sessions) as session:
        story = session.get(Story, story_id)
        seen = {story_id}
        while story is not None and story.merged_into is not None and story.merged_into not in seen:
            seen.add(story.merged_into)
            story = session.get(Story, story.merged_into)
        if story is None:
            raise fail(f"no story {story_id}")
        articles = session.scalars(
            select(Article)
            .where(Article.story_id == story.id)
            .order_by(Article.published_at, Article.id)
        ).all()
        merged = session.scalars(select(Story.id).where(Story.merged_into == story.id)).all()
        record = {
            "id": story.id,
            "headline": story.headline,
            "first_published_at": story.first_published_at,
            "last_published_at": story.last_published_at,
            "article_count": story.article_count,
            "outlet_count": story.outlet_count,
            "keywords": story.keywords,
            "language": story.language,
            "merged_from": list(merged),
            "outlets": sorted({a.site_name or "" for a in articles} - {""}),
            "articles": [
                {
                    "id": a.id,
                    "title": a.title,
                    "url": a.canonical_url,
                    "site_name": a.site_name,
                    "published_at": a.published_at,
                    "duplicate_of": a.duplicate_of,
                }
                for a in articles
            ],
        }
    print_json(record)


@stories_app.command("retry")
def stories_retry(
    article_ids: Annotated[
        list[int] | None,
        typer.Argument(help="Articles whose story step failed.", metavar="[ID...]"),
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all", help="Every article whose story step failed.")
    ] = False,
) -> None:
    """Forget the story step's failures of articles still without a story (after a fix), so
    the sweeper re-enqueues them and batches take them again."""
    if bool(article_ids) == all_failed:
        raise fail("give article ids or --all")
    from models import session_scope
    from worker.stories import reset_story_failures

    rt = open_resources()
    with session_scope(rt.sessions) as session:
        count = reset_story_failures(session, None if all_failed else article_ids)
    typer.echo(f"{count} articles to retry")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"
