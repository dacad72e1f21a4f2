"""Fetch and extract one article: fetch page → extract → merge with the feed's fields → store.

The stub already holds what the feed said (title, summary, dates with source "feed"); the page
adds the text and better metadata. Whatever happens, the row ends in a final status with the
reason recorded, and keeps the feed's fields, so nothing the feed gave us is lost.

Beside it: :mod:`worker.pipeline.tries` counts the tries at a page (and reads the stub),
:mod:`worker.pipeline.columns` merges the page's columns with the feed's.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Executable, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Article, ArticleStatus, Change, ChangeKind, ErrorClass, session_scope, utcnow
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
from worker.pipeline.columns import date_columns, page_record
from worker.pipeline.outage import note_fetch
from worker.pipeline.story import story_config
from worker.pipeline.tries import (
    DEFAULT_ERROR_CHARS,
    Stub,
    Unfinished,
    count_attempt,
    end_try,
    start_try,
)
from worker.store import NO_PROVENANCE, Provenance, record_changes
from worker.store.changes import change_payload
from worker.stories import StoryConfig, features_row, store_features
from worker.stories.features_store import features_upsert_from
from worker.urls import host_of

#: Base of the back-off between attempts at a page that failed transiently (seconds): the
#: n-th attempt is retried after n times this, or the server's Retry-After if longer.
DEFAULT_RETRY_BASE_S = 30.0
#: Longest wait before a retry: far below the broker's visibility timeout (an hour by
#: default), so that Redis does not deliver the waiting task a second time.
DEFAULT_MAX_RETRY_DELAY_S = 600.0


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
    #: Whether other pages were pending when this one was stored, if the write read it
    #: (Postgres: ``story_delay`` need not ask again); None when not read.
    pages_pending: bool | None = None


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
    stub = start_try(sessions, article_id)
    if stub is None:
        return ArticleOutcome(article_id, PageOutcome.SKIPPED)
    config = story_config(settings)
    if stub.unfinished_tries >= settings.max_unfinished_tries:
        error = Unfinished(stub.unfinished_tries, stub.last_error_class)
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.FAILED, error, None, provenance, config
        )

    if not stub.url.startswith(("http://", "https://")):
        # A link-less entry: the feed's own text is all there is.
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.OK, None, None, provenance, config
        )

    timer.start(stub.url)
    try:
        response = fetcher.fetch(stub.url, accept=ACCEPT_HTML, check_robots=settings.obey_robots)
        timer.fetched()
        page = extract_page(
            response.content,
            url=response.url,
            content_type=response.headers.get("content-type"),
            # A feed's date outranks what a scan of the page's text would guess.
            guess_dates=stub.fields.feed_published_at is None,
        )
        timer.extracted()
    except RobotsDisallowed as exc:
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.BLOCKED, exc, None, provenance, config
        )
    except TransientFetchError as exc:
        if exc.error_class == ErrorClass.RATE_LIMITED:
            # Our own politeness queue is full for this host: not the page's fault, so it
            # costs no attempt.
            end_try(sessions, article_id)
            raise RetryLater(article_id, 0, exc) from exc
        if _our_outage(sessions, settings, stub.url, exc):
            # Our own network is down (many hosts failing at once): not the page's fault.
            end_try(sessions, article_id)
            raise RetryLater(article_id, 0, exc) from exc
        attempts = count_attempt(sessions, article_id, exc)
        if attempts < settings.max_page_attempts:
            raise RetryLater(article_id, attempts, exc) from exc
        return _finish_from_feed(
            sessions, article_id, stub, ArticleStatus.FAILED, exc, None, provenance, config
        )
    except FetchError as exc:
        return _finish_from_feed(
            sessions,
            article_id,
            stub,
            ArticleStatus.FAILED,
            exc,
            exc.status_code,
            provenance,
            config,
        )
    except ExtractionError as exc:  # the page came (its status is kept) but is no article
        return _finish_from_feed(
            sessions,
            article_id,
            stub,
            ArticleStatus.FAILED,
            exc,
            response.status_code,
            provenance,
            config,
        )

    return _store_page(sessions, article_id, stub, response, page, provenance, config)


def _our_outage(
    sessions: sessionmaker[Session], settings: Settings, url: str, error: FetchError
) -> bool:
    with session_scope(sessions) as session:
        return note_fetch(session, host_of(url), error, settings=settings, now=utcnow())


def _finish_from_feed(
    sessions: sessionmaker[Session],
    article_id: int,
    stub: Stub,
    status: ArticleStatus,
    error: Exception | None,
    http_status: int | None,
    provenance: Provenance,
    config: StoryConfig,
) -> ArticleOutcome:
    found = getattr(error, "error_class", None) or (type(error).__name__ if error else None)
    error_class = str(found) if found else None
    text = stub.feed_text
    values = {
        "status": status,
        "text": text,
        "content_hash": content_hash(text) if text else None,
        "error_class": error_class,
        "error": str(error)[:DEFAULT_ERROR_CHARS] if error else None,
        "http_status": http_status,
    }
    page_dates = getattr(error, "dates", None)
    if page_dates is not None:  # a page without main text, still dated by its markup
        values.update(date_columns(page_dates, stub.fields))
    # The row keeps the feed's title and summary (and no language: only a page gives one).
    written = {"title": stub.fields.title, "summary": stub.fields.summary, **values}
    features = features_row(article_id, written, config)
    facts = {"status": status, "error_class": error_class}
    with session_scope(sessions) as session:
        stored, pending = _finish(session, article_id, stub, provenance, values, features, facts)
    if not stored:
        return ArticleOutcome(article_id, PageOutcome.SKIPPED)
    return ArticleOutcome(article_id, PageOutcome(status), error_class, pending)


def _store_page(
    sessions: sessionmaker[Session],
    article_id: int,
    stub: Stub,
    response: FetchResponse,
    page: ExtractedPage,
    provenance: Provenance,
    config: StoryConfig,
) -> ArticleOutcome:
    values = {
        **page_record(page, stub.fields),
        "http_status": response.status_code,
        "status": ArticleStatus.OK,
        "error": None,
        "error_class": None,
    }
    features = features_row(article_id, values, config)
    facts = {"status": ArticleStatus.OK}
    with session_scope(sessions) as session:
        stored, pending = _finish(session, article_id, stub, provenance, values, features, facts)
    if not stored:
        return ArticleOutcome(article_id, PageOutcome.SKIPPED)
    return ArticleOutcome(article_id, PageOutcome.OK, pages_pending=pending)


# Built once: the SET clause is the parameters' columns. An ORM update built per article cost
# more Python than the statement's round trip (~0.4 ms an article).
_ARTICLES = cast(Table, Article.__table__)
_CHANGES = cast(Table, Change.__table__)
_STILL_PENDING = (
    _ARTICLES.c.id == bindparam("_article_id"),
    _ARTICLES.c.status == ArticleStatus.PENDING,
)
_FINISH = update(_ARTICLES).where(*_STILL_PENDING)


def _finish(
    session: Session,
    article_id: int,
    stub: Stub,
    provenance: Provenance,
    values: dict[str, Any],
    features: dict[str, Any] | None,
    facts: dict[str, Any],
) -> tuple[bool, bool | None]:
    """Write the article's final state if it is still pending, with its story ``features``
    (``features_row``: computed before the transaction, so that its story step need not
    compute them under the story-step lock) and its ``article.updated`` change (``facts``).
    Whether it was written (not if another delivery of its task finished it first), and on
    Postgres whether other pages were pending (``ArticleOutcome.pages_pending``). No read:
    under the row lock the update takes, a second delivery waits for the first and then
    finds the row no longer pending (Postgres; SQLite's BEGIN IMMEDIATE already serializes
    writers)."""
    now = utcnow()
    params = {
        "_article_id": article_id,
        "fetched_at": now,
        "updated_at": now,  # named: an update inside a WITH gets no ``onupdate`` value
        "unfinished_tries": 0,
        "task_id": provenance.task_id or stub.task_id,
        "run_id": stub.run_id or provenance.run_id,
        **values,
    }
    if session.get_bind().dialect.name == "postgresql":
        # One round trip instead of three: the feature and change rows are inserted from
        # what the update returns, so nothing is written when the row was no longer pending.
        statement = _finish_postgres(tuple(sorted(params)), features is not None)
        change = {"_kind": ChangeKind.ARTICLE_UPDATED, "_payload": change_payload(**facts)}
        extra = {**change, "_created_at": now}
        if features is not None:
            extra.update(_fingerprint=features["fingerprint"], _data=features["data"])
        written, pending = session.execute(statement, {**params, **extra}).one()
        return bool(written), bool(pending)
    done = session.execute(_FINISH, params)
    if not done.rowcount:  # type: ignore[attr-defined]
        return False, None
    store_features(session, features)
    record_changes(session, [(ChangeKind.ARTICLE_UPDATED, article_id, facts)])
    return True, None


@functools.lru_cache(maxsize=32)
def _finish_postgres(columns: tuple[str, ...], with_features: bool) -> Executable:
    """``_finish`` on Postgres as one statement of data-modifying ``WITH``s: the update, the
    features upsert and the change insert of the row it updated; selects how many it updated
    and whether another page is pending (the story step's countdown, ``story_delay``). Built
    once per set of columns (a page's, a failure's)."""
    sets = {
        name: bindparam(name, type_=_ARTICLES.c[name].type)
        for name in columns
        if name != "_article_id"
    }
    done = (update(_ARTICLES).where(*_STILL_PENDING).values(sets).returning(_ARTICLES.c.id)).cte(
        "done"
    )
    change = insert(_CHANGES).from_select(
        ["kind", "entity_id", "payload", "created_at"],
        select(
            bindparam("_kind", type_=_CHANGES.c.kind.type),
            done.c.id,
            bindparam("_payload", type_=_CHANGES.c.payload.type),
            bindparam("_created_at", type_=_CHANGES.c.created_at.type),
        ),
    )
    writes = [change.cte("change")]
    if with_features:
        writes.append(features_upsert_from(done.c.id).cte("features"))
    # The statement's snapshot is from before the update: this article still reads pending.
    others_pending = (
        select(_ARTICLES.c.id)
        .where(
            _ARTICLES.c.status == ArticleStatus.PENDING,
            _ARTICLES.c.id != bindparam("_article_id"),
        )
        .exists()
    )
    # Postgres runs every data-modifying WITH to completion, read by the query or not.
    return select(func.count(), others_pending).select_from(done).add_cte(*writes)
