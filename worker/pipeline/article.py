"""Fetch and extract one article: fetch page → extract → merge with the feed's fields → store.

The stub already holds what the feed said (title, summary, dates with source "feed"); the page
adds the text and better metadata. Whatever happens, the row ends in a final status with the
reason recorded, and keeps the feed's fields, so nothing the feed gave us is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import lxml.html
from lxml.etree import ParserError
from sqlalchemy import select
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
from worker.store import NO_PROVENANCE, Provenance, record_change
from worker.urls import host_of

#: Transient failures (timeouts, 5xx, 429) tolerated before an article is given up as failed.
DEFAULT_MAX_ATTEMPTS = 4
#: error_class of a fetch refused by our own per-host rate limit (see worker.fetch.ratelimit).
RATE_LIMITED = "rate_limited"
#: Precedence of date sources: structured page metadata is the publisher's own statement;
#: the feed's date is next (some feeds stamp the time the item was added); URL and text
#: scans are guesses.
_DATE_PRECEDENCE = ("jsonld", "meta", "feed", "url", "text")


class RetryLater(Exception):
    """The page could not be fetched now but may be later (the task schedules a retry)."""

    def __init__(self, article_id: int, attempts: int, error: TransientFetchError) -> None:
        super().__init__(f"article {article_id}: attempt {attempts}: {error}")
        self.attempts = attempts
        self.retry_after = error.retry_after


@dataclass
class ArticleOutcome:
    article_id: int
    status: str  # ok | failed | blocked | skipped (already processed)
    error_class: str | None = None


#: error_class of a page given up because its tries kept killing their worker (out of memory).
WORKER_LOST = "worker_lost"
#: error_class of a page whose try ran past the task's soft time limit.
TIME_LIMIT = "time_limit"


class Unfinished(Exception):
    """The last tries of a page never ended: it is failed rather than tried again forever."""

    def __init__(self, tries: int, last_error_class: str | None) -> None:
        timed_out = last_error_class == TIME_LIMIT
        cause = (
            "the last one ran past the task's time limit"
            if timed_out
            else "the worker process died during each (out of memory, or its hard time limit)"
        )
        super().__init__(f"given up after {tries} tries that never finished: {cause}")
        self.error_class = TIME_LIMIT if timed_out else WORKER_LOST


@dataclass
class _Stub:
    url: str
    feed_title: str | None
    feed_text: str | None  # plain text the feed carried, the fallback
    unfinished_tries: int = 0  # tries before this one that never ended
    last_error_class: str | None = None


def process_article(
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    settings: Settings,
    article_id: int,
    provenance: Provenance = NO_PROVENANCE,
) -> ArticleOutcome:
    """Fetch, extract and store one pending article. Idempotent: a processed one is skipped.

    Raises ``RetryLater`` on a transient failure with attempts left (the row records it).
    Each try is counted on the row before the page is fetched and cleared when it ends, so a
    try that killed its worker is counted too: after ``settings.max_unfinished_tries`` of
    them in a row the page is failed (``worker_lost`` or ``time_limit``), not tried again.
    """
    stub = _start_try(sessions, article_id)
    if stub is None:
        return ArticleOutcome(article_id, "skipped")
    if stub.unfinished_tries >= settings.max_unfinished_tries:
        error = Unfinished(stub.unfinished_tries, stub.last_error_class)
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.FAILED, error, None, provenance
        )

    if not stub.url.startswith(("http://", "https://")):
        # A link-less entry: the feed's own text is all there is.
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.OK, None, None, provenance
        )

    try:
        response = fetcher.fetch(stub.url, accept=ACCEPT_HTML, check_robots=settings.obey_robots)
        page = extract_page(
            response.content, url=response.url, content_type=response.headers.get("content-type")
        )
    except RobotsDisallowed as exc:
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.BLOCKED, exc, None, provenance
        )
    except TransientFetchError as exc:
        if exc.error_class == RATE_LIMITED:
            # Our own politeness queue is full for this host: not the page's fault, so it
            # costs no attempt.
            _end_try(sessions, article_id)
            raise RetryLater(article_id, 0, exc) from exc
        if _our_outage(sessions, settings, stub.url, exc):
            # Our own network is down (many hosts failing at once): not the page's fault.
            _end_try(sessions, article_id)
            raise RetryLater(article_id, 0, exc) from exc
        attempts = _count_attempt(sessions, article_id, exc)
        if attempts < DEFAULT_MAX_ATTEMPTS:
            raise RetryLater(article_id, attempts, exc) from exc
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.FAILED, exc, None, provenance
        )
    except FetchError as exc:
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.FAILED, exc, exc.status_code, provenance
        )
    except ExtractionError as exc:  # the page came (its status is kept) but is no article
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.FAILED, exc, response.status_code, provenance
        )

    return _store_page(sessions, article_id, response, page, provenance)


def note_time_limit(sessions: sessionmaker[Session], article_id: int, limit_s: float) -> None:
    """Record on a pending article that its try ran past the soft time limit (the try stays
    counted as unfinished: the task retries it, and gives up once the limit is reached)."""
    with session_scope(sessions) as session:
        article = _locked(session, article_id)
        if article is not None and article.status == ArticleStatus.PENDING:
            article.error_class = TIME_LIMIT
            article.error = f"fetching and extracting the page took longer than {limit_s:g} s"


def _start_try(sessions: sessionmaker[Session], article_id: int) -> _Stub | None:
    """The pending article's stub, its try counted (committed) before any risky work."""
    with session_scope(sessions) as session:
        article = _locked(session, article_id)
        if article is None or article.status != ArticleStatus.PENDING:
            return None
        unfinished, last_error_class = article.unfinished_tries, article.error_class
        article.unfinished_tries = unfinished + 1
        source = session.execute(
            select(ArticleSource)
            .where(ArticleSource.article_id == article_id)
            .order_by(ArticleSource.id)
            .limit(1)
        ).scalar_one_or_none()
        feed_text = None
        if source is not None:
            feed_text = (_html_to_text(source.content) if source.content else None) or (
                source.summary
            )
        return _Stub(article.url, article.title, feed_text, unfinished, last_error_class)


def _end_try(sessions: sessionmaker[Session], article_id: int) -> None:
    with session_scope(sessions) as session:
        article = _locked(session, article_id)
        if article is not None:
            article.unfinished_tries = 0


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
        article.unfinished_tries = 0
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
        article.unfinished_tries = 0
        article.text = stub.feed_text
        article.content_hash = content_hash(stub.feed_text) if stub.feed_text else None
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
    provenance: Provenance,
) -> ArticleOutcome:
    with session_scope(sessions) as session:
        article = _locked(session, article_id)
        if article is None or article.status != ArticleStatus.PENDING:
            return ArticleOutcome(article_id, "skipped")
        article.title = page.title or article.title
        article.text = page.text
        article.content_hash = content_hash(page.text) if page.text else None
        article.authors = page.authors or article.authors
        article.published_at, article.published_source = _pick_date(
            (article.published_at, article.published_source),
            (page.published_at, page.published_source),
        )
        article.modified_at, article.modified_source = _pick_date(
            (article.modified_at, article.modified_source),
            (page.modified_at, page.modified_source),
        )
        article.summary = article.summary or page.description
        article.language = page.language
        article.site_name = page.site_name
        article.image_url = page.image_url
        article.http_status = response.status_code
        article.status = ArticleStatus.OK
        article.unfinished_tries = 0
        article.error = article.error_class = None
        article.fetched_at = utcnow()
        _stamp(article, provenance)
        record_change(session, "article.updated", article_id, status="ok")
    return ArticleOutcome(article_id, "ok")


def _locked(session: Session, article_id: int) -> Article | None:
    # Row lock (Postgres; SQLite's BEGIN IMMEDIATE already serializes writers): two
    # deliveries of one task that finish together write one result, the other sees it done.
    return session.get(Article, article_id, with_for_update=True)


def _stamp(article: Article, provenance: Provenance) -> None:
    article.task_id = provenance.task_id or article.task_id
    article.run_id = article.run_id or provenance.run_id


def _pick_date(
    *candidates: tuple[datetime | None, str | None],
) -> tuple[datetime | None, str | None]:
    present = [(d, s) for d, s in candidates if d is not None]
    if not present:
        return None, None
    return min(
        present,
        key=lambda c: _DATE_PRECEDENCE.index(c[1]) if c[1] in _DATE_PRECEDENCE else 99,
    )


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
