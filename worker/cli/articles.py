"""``storywire articles`` (read what was stored) and ``storywire extract`` (debug one page)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worker.cli._context import JsonFlag, emit_table, fail, open_resources, print_json, settings

if TYPE_CHECKING:
    from models import Article

articles_app = typer.Typer(
    help="Read stored articles.", no_args_is_help=True, rich_markup_mode=None
)


class Status(StrEnum):
    """``models.ArticleStatus``, without importing the models for ``--help``."""

    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"
    BLOCKED = "blocked"


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
#: Columns of `articles list --json` (the table's, in full).
_LIST_COLUMNS = ("id", "status", "published_at", "title", "canonical_url", "duplicate_of",
                 "story_id", "feed_id")  # fmt: skip


def article_record(article: Article) -> dict[str, Any]:
    return {name: getattr(article, name) for name in _PUBLIC_COLUMNS}


@articles_app.command("list")
def articles_list(
    limit: Annotated[int, typer.Option(help="Newest N articles.", metavar="N")] = 20,
    status: Annotated[Status | None, typer.Option(help="Only this status.")] = None,
    feed: Annotated[
        int | None, typer.Option(help="Only articles of this feed id.", metavar="ID")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The newest articles, one line each."""
    from sqlalchemy import select

    from models import Article, session_scope

    rt = open_resources()
    query = select(Article).order_by(Article.id.desc()).limit(limit)
    if status:
        query = query.where(Article.status == status.value)
    if feed is not None:
        query = query.where(Article.feed_id == feed)
    with session_scope(rt.sessions) as session:
        articles = list(session.execute(query).scalars())
    if as_json:
        print_json([{name: getattr(a, name) for name in _LIST_COLUMNS} for a in articles])
        return
    emit_table(
        ["id", "status", "published", "title", "url", "dup of", "story"],
        (
            [
                str(a.id),
                a.status,
                a.published_at.strftime("%Y-%m-%d %H:%M") if a.published_at else "-",
                (a.title or "")[:60],
                a.canonical_url,
                str(a.duplicate_of or ""),
                str(a.story_id or ""),
            ]
            for a in articles
        ),
    )


@articles_app.command("show")
def articles_show(
    article_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
) -> None:
    """One article as JSON, with the feeds it came from (JSON with or without --json)."""
    del as_json  # accepted like on every show command; JSON is this command's only format
    from sqlalchemy import select

    from models import Article, ArticleSource, session_scope

    rt = open_resources()
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
    source: Annotated[
        str,
        typer.Argument(
            help="An HTML (or PDF) file, or an http(s) URL fetched like the worker would.",
            metavar="FILE_OR_URL",
        ),
    ],
    url: Annotated[
        str | None,
        typer.Option("--url", help="The page's URL, when SOURCE is a file.", metavar="URL"),
    ] = None,
) -> None:
    """Print the article fields the pipeline would store for one page, as JSON.

    Without a feed behind the page, the page's own title, dates and summary are used. A URL
    is fetched through the worker's own fetcher: its limits, robots.txt and the private
    address check (STORYWIRE_ALLOW_PRIVATE_NETWORKS) apply.
    """
    from worker.extract import ExtractionError, extract_page
    from worker.pipeline.columns import StubFields, page_record
    from worker.urls import canonicalize

    status: int | None = None
    if source.startswith(("http://", "https://")):
        page_url = source
        html, content_type, status = _fetch(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise fail(f"{source}: no such file (give a file, or an http:// or https:// URL)")
        html, page_url, content_type = path.read_bytes(), url or path.resolve().as_uri(), None
    try:
        page = extract_page(html, url=page_url, content_type=content_type)
    except ExtractionError as exc:
        raise fail(f"{source}: {exc}") from exc
    try:
        # The article's key is the URL as the feed linked it, canonicalized: what is stored.
        canonical_url = canonicalize(page_url)
    except ValueError:
        canonical_url = page_url
    record = {
        "url": page_url,
        "canonical_url": canonical_url,
        "status": Status.OK,
        "http_status": status,
        **page_record(page, StubFields()),
    }
    print_json(record)


def _fetch(url: str) -> tuple[bytes, str | None, int]:
    from worker.fetch import BlockedDestination, Fetcher, FetchError

    current = settings()
    with Fetcher(current) as fetcher:
        try:
            response = fetcher.fetch(url, check_robots=current.obey_robots)
        except BlockedDestination as exc:
            raise fail(
                f"{url}: {exc}; set STORYWIRE_ALLOW_PRIVATE_NETWORKS=1 to allow private "
                "and loopback addresses"
            ) from exc
        except FetchError as exc:
            raise fail(f"{url}: {exc.error_class}: {exc}") from exc
    return response.content, response.headers.get("content-type"), response.status_code
