"""Fetch and extract one article: fetch page → extract → merge with the feed's fields → store.

The stub already holds what the feed said (title, summary, dates with source "feed"); the page
adds the text and better metadata. Whatever happens, the row ends in a final status with the
reason recorded, and keeps the feed's fields, so nothing the feed gave us is lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import lxml.html
from lxml.etree import ParserError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from models import Article, ArticleSource, ArticleStatus, session_scope, utcnow
from worker.config import Settings
from worker.dedupe import content_hash
from worker.extract import ExtractedPage, ExtractionError, extract_page
from worker.fetch import (
    ACCEPT_HTML,
    Fetcher,
    FetchError,
    FetchResponse,
    RobotsDisallowed,
    TransientFetchError,
)
from worker.health import note_fetch
from worker.monitoring import metrics
from worker.pipeline.dates import FeedDates, PageDateFields, merge_dates
from worker.store import NO_PROVENANCE, Provenance, record_change
from worker.urls import host_of

#: Transient failures (timeouts, 5xx, 429) tolerated before an article is given up as failed.
DEFAULT_MAX_ATTEMPTS = 4
#: error_class of a fetch refused by our own per-host rate limit (see worker.fetch.ratelimit).
RATE_LIMITED = "rate_limited"


class RetryLater(Exception):
    """The page could not be fetched now but may be later (the task schedules a retry)."""

    def __init__(self, article_id: int, attempts: int, error: TransientFetchError) -> None:
        super().__init__(f"article {article_id}: attempt {attempts}: {error}")
        self.attempts = attempts
        self.retry_after = error.retry_after
        self.error_class = error.error_class


@dataclass
class ArticleOutcome:
    article_id: int
    status: str  # ok | failed | blocked | skipped (already processed)
    error_class: str | None = None


@dataclass
class _Stub:
    url: str
    feed_title: str | None
    feed_text: str | None  # plain text the feed carried, the fallback
    first_entry_at: datetime | None = None  # the oldest entry date its feed ever gave


def process_article(
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    settings: Settings,
    article_id: int,
    provenance: Provenance = NO_PROVENANCE,
) -> ArticleOutcome:
    """Fetch, extract and store one pending article. Idempotent: a processed one is skipped.

    Raises ``RetryLater`` on a transient failure with attempts left (the row records it).
    """
    timer = _StageTimer()
    try:
        outcome = _process(sessions, fetcher, settings, article_id, provenance, timer)
    except RetryLater as exc:
        timer.report("deferred" if exc.error_class == RATE_LIMITED else "retry", exc.error_class)
        raise
    if outcome.status != "skipped":
        timer.report(outcome.status, outcome.error_class)
    return outcome


class _StageTimer:
    """Times the page fetch and the extraction of one article, for the metrics."""

    def __init__(self) -> None:
        self.host = ""
        self._started = time.monotonic()
        self._fetch_s: float | None = None

    def start(self, url: str) -> None:
        self.host, self._started = host_of(url), time.monotonic()

    def fetched(self) -> None:
        self._fetch_s = time.monotonic() - self._started

    def extracted(self) -> None:
        assert self._fetch_s is not None
        metrics.observe_extraction(time.monotonic() - self._started - self._fetch_s)

    def report(self, outcome: str, error_class: str | None) -> None:
        seconds = self._fetch_s
        if seconds is None and self.host and outcome not in ("deferred", "ok"):
            seconds = time.monotonic() - self._started  # the fetch failed after this long
        metrics.observe_page_fetch(outcome, error_class, seconds=seconds, host=self.host)


def _process(
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    settings: Settings,
    article_id: int,
    provenance: Provenance,
    timer: _StageTimer,
) -> ArticleOutcome:
    stub = _load_stub(sessions, article_id)
    if stub is None:
        return ArticleOutcome(article_id, "skipped")

    if not stub.url.startswith(("http://", "https://")):
        # A link-less entry: the feed's own text is all there is.
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.OK, None, None, provenance
        )

    timer.start(stub.url)
    try:
        response = fetcher.fetch(stub.url, accept=ACCEPT_HTML, check_robots=settings.obey_robots)
        timer.fetched()
        page = extract_page(
            response.content, url=response.url, content_type=response.headers.get("content-type")
        )
        timer.extracted()
    except RobotsDisallowed as exc:
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.BLOCKED, exc, None, provenance
        )
    except TransientFetchError as exc:
        if exc.error_class == RATE_LIMITED:
            # Our own politeness queue is full for this host: not the page's fault, so it
            # costs no attempt.
            raise RetryLater(article_id, 0, exc) from exc
        if _our_outage(sessions, settings, stub.url, exc):
            # Our own network is down (many hosts failing at once): not the page's fault.
            raise RetryLater(article_id, 0, exc) from exc
        attempts = _count_attempt(sessions, article_id, exc)
        if attempts < DEFAULT_MAX_ATTEMPTS:
            raise RetryLater(article_id, attempts, exc) from exc
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.FAILED, exc, None, provenance
        )
    except (FetchError, ExtractionError) as exc:
        status = getattr(exc, "status_code", None)
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.FAILED, exc, status, provenance
        )

    return _store_page(sessions, article_id, response, page, stub, provenance)


def _load_stub(sessions: sessionmaker[Session], article_id: int) -> _Stub | None:
    with session_scope(sessions) as session:
        article = session.get(Article, article_id)
        if article is None or article.status != ArticleStatus.PENDING:
            return None
        # With the first source, the oldest entry date of its feed (one indexed lookup on
        # article_sources(feed_id, published_at)): a page date before it is not believed.
        first_entry = (
            select(func.min(ArticleSource.published_at))
            .where(ArticleSource.feed_id == article.feed_id)
            .scalar_subquery()
        )
        row = session.execute(
            select(ArticleSource, first_entry)
            .where(ArticleSource.article_id == article_id)
            .order_by(ArticleSource.id)
            .limit(1)
        ).one_or_none()
        source, first_entry_at = row if row is not None else (None, None)
        feed_text = None
        if source is not None:
            feed_text = (_html_to_text(source.content) if source.content else None) or (
                source.summary
            )
        return _Stub(article.url, article.title, feed_text, first_entry_at)


def _our_outage(
    sessions: sessionmaker[Session], settings: Settings, url: str, error: FetchError
) -> bool:
    with session_scope(sessions) as session:
        return note_fetch(session, host_of(url), error, settings=settings, now=utcnow())


def _count_attempt(sessions: sessionmaker[Session], article_id: int, error: FetchError) -> int:
    with session_scope(sessions) as session:
        article = _locked(session, article_id)
        assert article is not None
        article.attempts += 1
        article.error_class = error.error_class
        article.error = str(error)[:2000]
        article.http_status = error.status_code
        return article.attempts


def _finish_from_feed(
    sessions: sessionmaker[Session],
    article_id: int,
    stub: _Stub,
    status: ArticleStatus,
    error: Exception | None,
    http_status: int | None,
    provenance: Provenance,
) -> ArticleOutcome:
    error_class = getattr(error, "error_class", None) or (type(error).__name__ if error else None)
    with session_scope(sessions) as session:
        article = _locked(session, article_id)
        if article is None or article.status != ArticleStatus.PENDING:
            return ArticleOutcome(article_id, "skipped")
        article.status = status
        article.text = stub.feed_text
        article.content_hash = content_hash(stub.feed_text) if stub.feed_text else None
        page_dates = getattr(error, "dates", None)
        if page_dates is not None:  # a page without main text, still dated by its markup
            for name, value in date_columns(page_dates, _stub_fields(article, stub)).items():
                setattr(article, name, value)
        article.error_class = str(error_class) if error_class else None
        article.error = str(error)[:2000] if error else None
        article.http_status = http_status
        article.fetched_at = utcnow()
        _stamp(article, provenance)
        record_change(
            session, "article.updated", article_id, status=str(status), error_class=error_class
        )
    return ArticleOutcome(article_id, str(status), article.error_class)


def _store_page(
    sessions: sessionmaker[Session],
    article_id: int,
    response: FetchResponse,
    page: ExtractedPage,
    stub: _Stub,
    provenance: Provenance,
) -> ArticleOutcome:
    with session_scope(sessions) as session:
        article = _locked(session, article_id)
        if article is None or article.status != ArticleStatus.PENDING:
            return ArticleOutcome(article_id, "skipped")
        for name, value in page_record(page, _stub_fields(article, stub)).items():
            setattr(article, name, value)
        article.http_status = response.status_code
        article.status = ArticleStatus.OK
        article.error = article.error_class = None
        article.fetched_at = utcnow()
        _stamp(article, provenance)
        record_change(session, "article.updated", article_id, status="ok")
    return ArticleOutcome(article_id, "ok")


def _stub_fields(article: Article, stub: _Stub) -> StubFields:
    return StubFields(
        title=article.title,
        summary=article.summary,
        authors=list(article.authors),
        published=(article.published_at, article.published_source),
        modified=(article.modified_at, article.modified_source),
        first_entry_at=stub.first_entry_at,
        date_error=article.date_error,
    )


#: Longest ``articles.date_error`` kept.
DEFAULT_DATE_ERROR_CHARS = 2000


@dataclass
class StubFields:
    """What the feed said about an article, before its page was read."""

    title: str | None = None
    summary: str | None = None
    authors: list[str] = field(default_factory=list)
    published: tuple[datetime | None, str | None] = (None, None)
    modified: tuple[datetime | None, str | None] = (None, None)
    first_entry_at: datetime | None = None  # the oldest entry date its feed ever gave
    date_error: str | None = None  # why the feed's own dates were refused


def page_record(page: ExtractedPage, stub: StubFields) -> dict[str, Any]:
    """The article columns an extracted page sets, merged with the feed's (``stub``): what
    the pipeline stores, and what ``storywire extract`` prints."""
    return {
        "title": page.title or stub.title,
        "text": page.text,
        "content_hash": content_hash(page.text) if page.text else None,
        "authors": page.authors or stub.authors,
        **date_columns(page, stub),
        "summary": stub.summary or page.description,
        "language": page.language,
        "site_name": page.site_name,
        "image_url": page.image_url,
    }


def date_columns(page: PageDateFields, stub: StubFields) -> dict[str, Any]:
    """The date columns of an article: the page's dates merged with the feed's (``stub``)."""
    feed = FeedDates(
        stub.published[0] if stub.published[1] == "feed" else None,
        stub.modified[0] if stub.modified[1] == "feed" else None,
        stub.first_entry_at,
    )
    dates = merge_dates(feed, page)
    # The page's refusals replace the feed's; with none, what the feed's were stays.
    refused = [*dates.problems, *([page.date_error] if page.date_error else [])]
    return {
        "published_at": dates.published_at,
        "published_source": dates.published_source,
        "modified_at": dates.modified_at,
        "modified_source": dates.modified_source,
        "date_error": "; ".join(refused)[:DEFAULT_DATE_ERROR_CHARS] or stub.date_error,
    }


def _locked(session: Session, article_id: int) -> Article | None:
    # Row lock (Postgres; SQLite's BEGIN IMMEDIATE already serializes writers): two
    # deliveries of one task that finish together write one result, the other sees it done.
    return session.get(Article, article_id, with_for_update=True)


def _stamp(article: Article, provenance: Provenance) -> None:
    article.task_id = provenance.task_id or article.task_id
    article.run_id = article.run_id or provenance.run_id


def _html_to_text(html: str) -> str | None:
    """Plain text of a feed's HTML content, one line per block element."""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (ParserError, ValueError):
        return None
    for node in root.iter("p", "div", "br", "li", "h1", "h2", "h3", "h4", "blockquote"):
        node.tail = "\n" + (node.tail or "")
    lines = (" ".join(line.split()) for line in root.text_content().splitlines())
    return "\n".join(line for line in lines if line) or None
