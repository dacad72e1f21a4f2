"""``storywire articles`` (read what was stored) and ``storywire extract`` (debug one page)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from models import Article, ArticleSource, session_scope
from worker.cli._context import console, fail, open_runtime, print_json, settings
from worker.config import Settings
from worker.dedupe import content_hash
from worker.extract import ExtractionError, extract_page
from worker.fetch import Fetcher, FetchError
from worker.pipeline.dates import FeedDates, merge_dates
from worker.urls import canonicalize

articles_app = typer.Typer(help="Read stored articles.", no_args_is_help=True)

_PUBLIC_COLUMNS = (
    "id",
    "canonical_url",
    "url",
    "feed_id",
    "guid",
    "title",
    "authors",
    "published_at",
    "published_source",
    "modified_at",
    "modified_source",
    "date_error",
    "language",
    "site_name",
    "image_url",
    "summary",
    "text",
    "content_hash",
    "duplicate_of",
    "story_id",
    "status",
    "http_status",
    "error_class",
    "error",
    "attempts",
    "story_error",
    "story_attempts",
    "discovered_at",
    "fetched_at",
)


def article_record(article: Article) -> dict[str, Any]:
    return {name: getattr(article, name) for name in _PUBLIC_COLUMNS}


@articles_app.command("list")
def articles_list(
    limit: Annotated[int, typer.Option(help="Newest N articles.")] = 20,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    feed: Annotated[int | None, typer.Option(help="Only articles of this feed id.")] = None,
) -> None:
    """The newest articles, one line each."""
    rt = open_runtime()
    query = select(Article).order_by(Article.id.desc()).limit(limit)
    if status:
        query = query.where(Article.status == status)
    if feed is not None:
        query = query.where(Article.feed_id == feed)
    table = Table("id", "status", "published", "title", "url", "dup of", "story")
    with session_scope(rt.sessions) as session:
        for a in session.execute(query).scalars():
            table.add_row(
                str(a.id),
                a.status,
                a.published_at.strftime("%Y-%m-%d %H:%M") if a.published_at else "-",
                (a.title or "")[:60],
                a.canonical_url,
                str(a.duplicate_of or ""),
                str(a.story_id or ""),
            )
    console.print(table)


@articles_app.command("show")
def articles_show(article_id: int) -> None:
    """One article as JSON, with the feeds it came from."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        article = session.get(Article, article_id)
        if article is None:
            raise fail(f"no article {article_id}")
        record = article_record(article)
        record["sources"] = [
            {
                "feed_id": s.feed_id,
                "guid": s.guid,
                "entry_url": s.entry_url,
                "title": s.title,
                "published_at": s.published_at,
                "date_error": s.date_error,
                "first_seen_at": s.first_seen_at,
            }
            for s in session.execute(
                select(ArticleSource).where(ArticleSource.article_id == article_id)
            ).scalars()
        ]
    print_json(record)


def extract(
    source: Annotated[str, typer.Argument(help="An HTML file, or an http(s) URL to fetch.")],
    url: Annotated[
        str | None, typer.Option("--url", help="The page's URL, when SOURCE is a file.")
    ] = None,
) -> None:
    """Print the JSON the pipeline would store for one page (for debugging extraction)."""
    current: Settings = settings()
    if source.startswith(("http://", "https://")):
        with Fetcher(current) as fetcher:
            try:
                response = fetcher.fetch(source, check_robots=False)
            except FetchError as exc:
                raise fail(f"{source}: {exc.error_class}: {exc}") from exc
        html, page_url = response.content, response.url
        content_type = response.headers.get("content-type")
    else:
        path = Path(source)
        if not path.is_file():
            raise fail(f"{source}: no such file")
        html, page_url, content_type = path.read_bytes(), url or path.resolve().as_uri(), None
    try:
        page = extract_page(html, url=page_url, content_type=content_type)
    except ExtractionError as exc:
        raise fail(f"{source}: {exc}") from exc
    record = dataclasses.asdict(page)
    # Dates as the pipeline stores them (UTC, after the same merge), not as the page spelt them.
    dates = merge_dates(FeedDates(), page)
    record.update(
        published_at=dates.published_at,
        published_source=dates.published_source,
        modified_at=dates.modified_at,
        modified_source=dates.modified_source,
    )
    try:
        record["canonical_url"] = canonicalize(page.canonical_url or page_url)
    except ValueError:
        record["canonical_url"] = page.canonical_url or page_url
    record["content_hash"] = content_hash(page.text) if page.text else None
    print_json(record)
