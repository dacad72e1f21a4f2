"""Fetch and extract one article: fetch page → extract → merge with the feed's fields → store.

The stub already holds what the feed said (title, summary, dates with source "feed"); the page
adds the text and better metadata. Whatever happens, the row ends in a final status with the
reason recorded, and keeps the feed's fields, so nothing the feed gave us is lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import lxml.html
from lxml.etree import ParserError
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from models import (
    Article,
    ArticleSource,
    ArticleStatus,
    ChangeKind,
    ErrorClass,
    session_scope,
    utcnow,
)
from worker import metrics
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
from worker.pipeline.dates import FeedDates, PageDateFields, merge_dates
from worker.pipeline.outage import note_fetch
from worker.store import NO_PROVENANCE, Provenance, record_change
from worker.urls import host_of

#: Base of the back-off between attempts at a page that failed transiently (seconds): the
#: n-th attempt is retried after n times this, or the server's Retry-After if longer.
DEFAULT_RETRY_BASE_S = 30.0
#: Longest wait before a retry: far below the broker's visibility timeout (an hour by
#: default), so that Redis does not deliver the waiting task a second time.
DEFAULT_MAX_RETRY_DELAY_S = 600.0

# What the article step reads of a pending article before fetching it: the row's feed fields
# and its first source's content (the fallback text), in one statement.
_FIRST_SOURCE = (
    select(func.min(ArticleSource.id))
    .where(ArticleSource.article_id == Article.id)
    .correlate(Article)
    .scalar_subquery()
)
# The oldest entry date the article's feed ever gave (one indexed lookup on
# article_sources(feed_id, published_at)): a page date before it is not believed.
_FEED_ENTRY = aliased(ArticleSource)
_FIRST_ENTRY_AT = (
    select(func.min(_FEED_ENTRY.published_at))
    .where(_FEED_ENTRY.feed_id == Article.feed_id)
    .correlate(Article)
    .scalar_subquery()
)
_STUB = (
    select(
        Article.url,
        Article.status,
        Article.title,
        Article.authors,
        Article.summary,
        Article.published_at,
        Article.published_source,
        Article.modified_at,
        Article.modified_source,
        Article.run_id,
        Article.task_id,
        Article.date_error,
        Article.unfinished_tries,
        Article.error_class,
        ArticleSource.content,
        ArticleSource.summary.label("source_summary"),
        _FIRST_ENTRY_AT.label("first_entry_at"),
    )
    .outerjoin(ArticleSource, ArticleSource.id == _FIRST_SOURCE)
    .where(Article.id == bindparam("id"))
)


class RetryLater(Exception):
    """The page could not be fetched now but may be later (the task schedules a retry in
    ``countdown`` seconds)."""

    def __init__(self, article_id: int, attempts: int, error: TransientFetchError) -> None:
        super().__init__(f"article {article_id}: attempt {attempts}: {error}")
        self.attempts = attempts
        self.retry_after = error.retry_after
        self.error_class = error.error_class
        self.status_code = error.status_code

    @property
    def countdown(self) -> float:
        """Seconds to wait before the next try: longer after each attempt, never sooner than
        the server asked, at most ``DEFAULT_MAX_RETRY_DELAY_S``."""
        wait = max(self.retry_after or 0.0, DEFAULT_RETRY_BASE_S * self.attempts)
        return min(wait, DEFAULT_MAX_RETRY_DELAY_S)


class PageOutcome(StrEnum):
    """What one try of an article's page came to (the ``outcome`` label of the page metrics)."""

    OK = ArticleStatus.OK
    FAILED = ArticleStatus.FAILED
    BLOCKED = ArticleStatus.BLOCKED
    SKIPPED = "skipped"  # not pending any more: another delivery of its task did it
    RETRY = "retry"  # a transient failure: tried again later
    DEFERRED = "deferred"  # our own per-host rate limit said wait: nothing counted


@dataclass
class ArticleOutcome:
    article_id: int
    status: PageOutcome  # ok | failed | blocked | skipped
    error_class: str | None = None


class Unfinished(Exception):
    """The last tries of a page never ended: it is failed rather than tried again forever."""

    def __init__(self, tries: int, last_error_class: str | None) -> None:
        timed_out = last_error_class == ErrorClass.TIME_LIMIT
        cause = (
            "the last one ran past the task's time limit"
            if timed_out
            else "the worker process died during each (out of memory, or its hard time limit)"
        )
        super().__init__(f"given up after {tries} tries that never finished: {cause}")
        self.error_class = ErrorClass.TIME_LIMIT if timed_out else ErrorClass.WORKER_LOST


@dataclass
class _Stub:
    """What the feed said, read in one statement before the page is fetched: its fields
    are merged with the page's (and stay as they are while the article is pending)."""

    url: str
    title: str | None
    authors: list[str]
    summary: str | None
    published: tuple[datetime | None, str | None]
    modified: tuple[datetime | None, str | None]
    run_id: int | None
    task_id: str | None
    source_content: str | None  # the first feed entry's own HTML and summary
    source_summary: str | None
    first_entry_at: datetime | None  # the oldest entry date its feed ever gave
    date_error: str | None  # why the feed's own dates were refused
    unfinished_tries: int = 0  # tries before this one that never ended
    last_error_class: str | None = None

    def fields(self) -> StubFields:
        return StubFields(
            title=self.title,
            summary=self.summary,
            authors=self.authors,
            published=self.published,
            modified=self.modified,
            first_entry_at=self.first_entry_at,
            date_error=self.date_error,
        )

    @property
    def feed_text(self) -> str | None:
        """Plain text the feed carried: the fallback when the page gives none."""
        text = _html_to_text(self.source_content) if self.source_content else None
        return text or self.source_summary


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
    timer = _StageTimer()
    try:
        outcome = _process(sessions, fetcher, settings, article_id, provenance, timer)
    except RetryLater as exc:
        rate_limited = exc.error_class == ErrorClass.RATE_LIMITED
        timer.report(PageOutcome.DEFERRED if rate_limited else PageOutcome.RETRY, exc.error_class)
        raise
    if outcome.status != PageOutcome.SKIPPED:
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

    def report(self, outcome: PageOutcome, error_class: str | None) -> None:
        seconds = self._fetch_s
        if seconds is None and self.host and outcome not in (PageOutcome.DEFERRED, PageOutcome.OK):
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
    stub = _start_try(sessions, article_id)
    if stub is None:
        return ArticleOutcome(article_id, PageOutcome.SKIPPED)
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
        if exc.error_class == ErrorClass.RATE_LIMITED:
            # Our own politeness queue is full for this host: not the page's fault, so it
            # costs no attempt.
            _end_try(sessions, article_id)
            raise RetryLater(article_id, 0, exc) from exc
        if _our_outage(sessions, settings, stub.url, exc):
            # Our own network is down (many hosts failing at once): not the page's fault.
            _end_try(sessions, article_id)
            raise RetryLater(article_id, 0, exc) from exc
        attempts = _count_attempt(sessions, article_id, exc)
        if attempts < settings.max_page_attempts:
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

    return _store_page(sessions, article_id, stub, response, page, provenance)


def note_time_limit(sessions: sessionmaker[Session], article_id: int, limit_s: float) -> None:
    """Record on a pending article that its try ran past the soft time limit (the try stays
    counted as unfinished: the task retries it, and gives up once the limit is reached)."""
    with session_scope(sessions) as session:
        article = _locked(session, article_id)
        if article is not None and article.status == ArticleStatus.PENDING:
            article.error_class = ErrorClass.TIME_LIMIT
            article.error = f"fetching and extracting the page took longer than {limit_s:g} s"


def _start_try(sessions: sessionmaker[Session], article_id: int) -> _Stub | None:
    """The pending article's stub (its feed's fields, in one statement), with its try counted
    and committed before any risky work: a try that kills its worker is counted too."""
    with session_scope(sessions) as session:
        row = session.execute(_STUB, {"id": article_id}).first()
        if row is None or row.status != ArticleStatus.PENDING:
            return None
        session.execute(
            update(Article)
            .where(Article.id == article_id)
            .values(unfinished_tries=Article.unfinished_tries + 1)
            .execution_options(synchronize_session=False)
        )
    return _Stub(
        url=row.url,
        title=row.title,
        authors=list(row.authors or []),
        summary=row.summary,
        published=(row.published_at, row.published_source),
        modified=(row.modified_at, row.modified_source),
        run_id=row.run_id,
        task_id=row.task_id,
        source_content=row.content,
        source_summary=row.source_summary,
        first_entry_at=row.first_entry_at,
        date_error=row.date_error,
        unfinished_tries=row.unfinished_tries,
        last_error_class=row.error_class,
    )


def _end_try(sessions: sessionmaker[Session], article_id: int) -> None:
    with session_scope(sessions) as session:
        session.execute(
            update(Article)
            .where(Article.id == article_id)
            .values(unfinished_tries=0)
            .execution_options(synchronize_session=False)
        )


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
    found = getattr(error, "error_class", None) or (type(error).__name__ if error else None)
    error_class = str(found) if found else None
    text = stub.feed_text
    values = {
        "status": status,
        "text": text,
        "content_hash": content_hash(text) if text else None,
        "error_class": error_class,
        "error": str(error)[:2000] if error else None,
        "http_status": http_status,
    }
    page_dates = getattr(error, "dates", None)
    if page_dates is not None:  # a page without main text, still dated by its markup
        values.update(date_columns(page_dates, stub.fields()))
    with session_scope(sessions) as session:
        if not _finish(session, article_id, stub, provenance, values):
            return ArticleOutcome(article_id, PageOutcome.SKIPPED)
        record_change(
            session, ChangeKind.ARTICLE_UPDATED, article_id, status=status, error_class=error_class
        )
    return ArticleOutcome(article_id, PageOutcome(status), error_class)


def _store_page(
    sessions: sessionmaker[Session],
    article_id: int,
    stub: _Stub,
    response: FetchResponse,
    page: ExtractedPage,
    provenance: Provenance,
) -> ArticleOutcome:
    values = {
        **page_record(page, stub.fields()),
        "http_status": response.status_code,
        "status": ArticleStatus.OK,
        "error": None,
        "error_class": None,
    }
    with session_scope(sessions) as session:
        if not _finish(session, article_id, stub, provenance, values):
            return ArticleOutcome(article_id, PageOutcome.SKIPPED)
        record_change(session, ChangeKind.ARTICLE_UPDATED, article_id, status=ArticleStatus.OK)
    return ArticleOutcome(article_id, PageOutcome.OK)


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


def _finish(
    session: Session,
    article_id: int,
    stub: _Stub,
    provenance: Provenance,
    values: dict[str, Any],
) -> bool:
    """Write the article's final state if it is still pending; False if another delivery of
    its task finished it first. One statement, no read: under the row lock it takes, a
    second delivery waits for the first and then finds the row no longer pending (Postgres;
    SQLite's BEGIN IMMEDIATE already serializes writers)."""
    done = session.execute(
        update(Article)
        .where(Article.id == article_id, Article.status == ArticleStatus.PENDING)
        .values(
            fetched_at=utcnow(),
            unfinished_tries=0,
            task_id=provenance.task_id or stub.task_id,
            run_id=stub.run_id or provenance.run_id,
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def _locked(session: Session, article_id: int) -> Article | None:
    # Row lock (Postgres; SQLite's BEGIN IMMEDIATE already serializes writers): two
    # deliveries of one task that finish together write one result, the other sees it done.
    return session.get(Article, article_id, with_for_update=True)


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
