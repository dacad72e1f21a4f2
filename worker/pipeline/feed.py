"""Refresh one feed: fetch → parse → store stubs → schedule. Reads top-down as that pipeline.

No database transaction stays open while the network is used: a slow server must never hold
a lock (SQLite) or an idle transaction (Postgres).

Health, in short (README, "Feed health"): every fetch leaves a ``feed_fetches`` row and the
``last_*`` columns of the feed; a failure backs the feed off exponentially (jitter, capped)
but never drops it; a failure that looks like our own network being down is not counted; the
next poll is never sooner than the feed's TTL, ``Cache-Control: max-age`` or ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, sessionmaker

from models import (
    ChangeKind,
    ErrorClass,
    Feed,
    FeedFetch,
    FeedStatus,
    FetchOutcome,
    read_scope,
    session_scope,
    utcnow,
)
from worker import metrics
from worker.config import Settings
from worker.feeds import FeedEntry, FeedParseError, ParsedFeed, parse_feed
from worker.fetch import ACCEPT_FEED, Fetcher, FetchError, FetchResponse, Gone, TransientFetchError
from worker.pipeline.not_modified import (
    POLLED,
    answered_lately,
    plain_not_modified,
    store_not_modified,
)
from worker.pipeline.outage import note_fetch
from worker.scheduler import adaptive_interval, backoff_delay, publisher_floor_s
from worker.store import (
    NO_PROVENANCE,
    Provenance,
    SourceFields,
    Stub,
    feed_auth,
    record_change,
    upsert_article_stubs,
)
from worker.urls import canonicalize, host_of, redact_credentials

log = logging.getLogger(__name__)

#: A permanent redirect must be seen this many times in a row before the stored URL follows
#: it: one misconfigured response must not move a feed for good.
DEFAULT_REDIRECT_ADOPT_AFTER = 2


@dataclass
class FeedRefresh:
    """What one refresh did. ``new_article_ids`` are to be enqueued after commit."""

    feed_id: int
    outcome: FetchOutcome
    entries_seen: int = 0
    new_article_ids: list[int] = field(default_factory=list)
    #: The new articles' URLs as the feed linked them, by id.
    article_urls: dict[int, str] = field(default_factory=dict)
    error_class: str | None = None
    error: str | None = None


@dataclass
class _Fetched:
    response: FetchResponse | None = None
    parsed: ParsedFeed | None = None
    error: Exception | None = None
    duration_ms: int = 0


def refresh_feed(
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    settings: Settings,
    feed_id: int,
    provenance: Provenance = NO_PROVENANCE,
) -> FeedRefresh:
    """Poll one feed and store one pending article per new entry.

    Never raises for a bad feed or server: the problem is recorded on the feed row and in the
    fetch log, and the feed is rescheduled with back-off.
    """
    with read_scope(sessions) as session:
        polled = session.execute(POLLED, {"id": feed_id}).first()
    if polled is None or polled.status in (FeedStatus.GONE, FeedStatus.DISABLED):
        return FeedRefresh(feed_id, FetchOutcome.SKIPPED)

    url = polled.url
    fetched = _fetch_and_parse(
        fetcher, settings, url, polled.etag, polled.last_modified, feed_auth(polled)
    )
    unchanged = fetched.response is not None and plain_not_modified(fetched.response)
    ours = False
    # A 304 (the commonest poll of all) while hosts are answering writes nothing to
    # host_health (see worker.pipeline.not_modified).
    if not unchanged or not answered_lately(polled.any_ok_at, polled.last_failure_at, utcnow()):
        # Its own short transaction: network health is advisory, and a row shared by every
        # feed of a host must not stay locked while a big feed's entries are stored.
        with session_scope(sessions) as session:
            ours = note_fetch(
                session,
                host_of(polled.url),
                fetched.error,
                settings=settings,
                now=utcnow(),
                got_response=fetched.response is not None,
            )
    if unchanged:
        with session_scope(sessions) as session:
            refresh = _not_modified(session, feed_id, polled.check_interval_s, fetched, settings)
        _observe(refresh, fetched, url)
        return refresh

    with session_scope(sessions) as session:
        # Locked: the same feed refreshed twice at once (a redelivered task) is stored one
        # after the other, so neither loses the other's counters.
        feed = session.get(Feed, feed_id, with_for_update=True)
        if feed is None:  # removed while we were fetching
            return FeedRefresh(feed_id, FetchOutcome.SKIPPED)
        refresh = _store(session, feed, fetched, settings, provenance, local_outage=ours)
    _observe(refresh, fetched, url)
    return refresh


def _observe(refresh: FeedRefresh, fetched: _Fetched, url: str) -> None:
    metrics.observe_feed_fetch(
        refresh.outcome, refresh.error_class, seconds=fetched.duration_ms / 1000, host=host_of(url)
    )


def _not_modified(
    session: Session, feed_id: int, interval_s: int, fetched: _Fetched, settings: Settings
) -> FeedRefresh:
    assert fetched.response is not None
    if not store_not_modified(
        session, feed_id, interval_s, fetched.response, fetched.duration_ms, settings
    ):
        return FeedRefresh(feed_id, FetchOutcome.SKIPPED)  # removed while we were fetching
    return FeedRefresh(feed_id, FetchOutcome.NOT_MODIFIED)


def _fetch_and_parse(
    fetcher: Fetcher,
    settings: Settings,
    url: str,
    etag: str | None,
    last_modified: str | None,
    auth: tuple[str, str] | None,
) -> _Fetched:
    started = time.monotonic()
    result = _Fetched()
    try:
        result.response = fetcher.fetch(
            url, etag=etag, last_modified=last_modified, accept=ACCEPT_FEED, auth=auth
        )
        if not result.response.not_modified:
            result.parsed = parse_feed(
                result.response.content,
                url=result.response.url,
                content_type=result.response.headers.get("content-type"),
                max_entries=settings.max_entries_per_fetch,
                max_field_chars=settings.max_field_chars,
            )
    except (FetchError, FeedParseError) as exc:
        result.error = exc
    except Exception as exc:
        # A bug (ours or a parser's) met by one feed's bytes must not become a task that
        # fails forever without a trace: record it on the feed like any other error.
        log.exception("unexpected error refreshing %s", url)
        result.error = exc
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def _store(
    session: Session,
    feed: Feed,
    fetched: _Fetched,
    settings: Settings,
    provenance: Provenance,
    *,
    local_outage: bool = False,
) -> FeedRefresh:
    now = utcnow()
    refresh = FeedRefresh(feed.id, FetchOutcome.OK)
    response, parsed = fetched.response, fetched.parsed
    status_code = response.status_code if response else _status_of(fetched.error)
    size = len(response.content) if response else None

    if _deferred(fetched.error):
        # No request was made (our own per-host queue was full): the feed's last fetch
        # stays what it was; only the log says we tried.
        _record_deferral(feed, fetched.error, now, settings, refresh)
    else:
        feed.last_fetched_at = now
        feed.last_duration_ms = fetched.duration_ms
        feed.last_status_code = status_code
        feed.last_bytes = size
        if fetched.error is not None:
            _record_error(session, feed, fetched.error, now, settings, refresh, local_outage)
        else:
            _record_fetch(session, feed, response, parsed, now, settings, refresh, provenance)
        feed.last_entries_seen = refresh.entries_seen
        feed.last_entries_new = len(refresh.new_article_ids)
    session.add(
        FeedFetch(
            feed_id=feed.id,
            started_at=now,
            duration_ms=fetched.duration_ms,
            status_code=status_code,
            bytes=size,
            entries_seen=refresh.entries_seen,
            entries_new=len(refresh.new_article_ids),
            outcome=refresh.outcome,
            error_class=refresh.error_class,
            error_message=refresh.error,
        )
    )
    return refresh


def _record_fetch(
    session: Session,
    feed: Feed,
    response: FetchResponse | None,
    parsed: ParsedFeed | None,
    now: datetime,
    settings: Settings,
    refresh: FeedRefresh,
    provenance: Provenance,
) -> None:
    assert response is not None
    if response.not_modified:
        refresh.outcome = FetchOutcome.NOT_MODIFIED
    else:
        assert parsed is not None
        refresh.outcome = FetchOutcome.BOZO if parsed.bozo else FetchOutcome.OK
        if parsed.bozo:  # usable, but the fetch log says what was wrong with it
            refresh.error = parsed.bozo_reason or "malformed"
        refresh.entries_seen = len(parsed.entries)
        refresh.article_urls = _store_entries(session, feed, parsed.entries, provenance)
        refresh.new_article_ids = list(refresh.article_urls)
        _update_metadata(feed, parsed)
    _record_success(feed, response, parsed, now, settings)


def _store_entries(
    session: Session, feed: Feed, entries: list[FeedEntry], provenance: Provenance
) -> dict[int, str]:
    """Store one stub per entry (a few statements for the whole feed); returns the new
    articles, id -> URL as linked, in id order."""
    stubs = []
    # Oldest first, so article ids follow publication order where the feed gives dates.
    for entry in reversed(entries):
        url, canonical = _entry_urls(feed, entry)
        source = SourceFields(
            guid=entry.guid,
            entry_url=entry.link,
            title=entry.title,
            summary=entry.summary,
            content=entry.content,
            authors=list(entry.authors),
            # An Atom entry dated only by <updated>: that is when the feed says it
            # appeared, the best publication date it gives.
            published_at=entry.published_at or entry.updated_at,
            updated_at=entry.updated_at,
            date_error=entry.date_error,
        )
        stubs.append(Stub(canonical, url, source))
    stored = upsert_article_stubs(session, feed_id=feed.id, stubs=stubs, provenance=provenance)
    return {
        article_id: stub.url
        for stub, (article_id, created) in zip(stubs, stored, strict=True)
        if created
    }


def _entry_urls(feed: Feed, entry: FeedEntry) -> tuple[str, str]:
    """The entry's URL and its canonical form, the article's natural key.

    An entry without a usable link still becomes an article (its text is the feed's own):
    its key is derived from the feed and the entry's guid (or its content), stable across polls.
    """
    for candidate in (entry.link, entry.guid):
        if candidate:
            try:
                return candidate, canonicalize(candidate)
            except ValueError:
                continue
    basis = entry.guid or f"{entry.title or ''}\n{entry.summary or ''}\n{entry.content or ''}"
    digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
    key = f"urn:storywire:feed:{feed.id}:{digest}"
    return key, key


def _update_metadata(feed: Feed, parsed: ParsedFeed) -> None:
    feed.title = parsed.title or feed.title
    feed.site_url = parsed.site_url or feed.site_url
    feed.description = parsed.description or feed.description


def _record_success(
    feed: Feed,
    response: FetchResponse,
    parsed: ParsedFeed | None,
    now: datetime,
    settings: Settings,
) -> None:
    feed.status = FeedStatus.ACTIVE
    feed.consecutive_errors = 0
    feed.last_error = None
    feed.last_error_class = None
    feed.last_success_at = now
    # A 304 carries the validators again only sometimes: keep the old ones unless replaced.
    feed.etag = response.headers.get("etag") or feed.etag
    feed.last_modified = response.headers.get("last-modified") or feed.last_modified
    _follow_permanent_redirect(feed, response)
    # The publisher's own "not before" (TTL, max-age, Retry-After) is a floor for this poll;
    # a 304 has no entries to adapt the interval to, so the interval stays as it was.
    floor = publisher_floor_s(response.headers, parsed.ttl_s if parsed else None, settings)
    if parsed is not None:
        times = [e.published_at or e.updated_at for e in parsed.entries]
        feed.check_interval_s = adaptive_interval(
            [t for t in times if t is not None], settings, floor_s=floor
        )
    feed.next_check_at = now + _seconds(max(feed.check_interval_s, floor or 0))


def _follow_permanent_redirect(feed: Feed, response: FetchResponse) -> None:
    target = response.permanent_redirect
    if not target:
        feed.redirect_url, feed.redirect_count = None, 0
        return
    if target == feed.redirect_url:
        feed.redirect_count += 1
    else:
        feed.redirect_url, feed.redirect_count = target, 1
    if feed.redirect_count >= DEFAULT_REDIRECT_ADOPT_AFTER:
        try:
            new_url = canonicalize(target)
        except ValueError:
            return
        session = object_session(feed)
        assert session is not None
        # Another registered feed may already live at the target: keep both rows as they are
        # rather than break the unique URL (a person can remove the old one).
        taken = session.execute(select(Feed.id).where(Feed.url == new_url)).first()
        if taken is None:
            if host_of(new_url) != feed.host:  # credentials are for the host they were given for
                feed.username, feed.password = None, None
            feed.url = new_url
            feed.host = host_of(new_url)  # the per-host dispatch cap follows the move
            feed.redirect_url, feed.redirect_count = None, 0


def _deferred(error: Exception | None) -> bool:
    return isinstance(error, TransientFetchError) and error.error_class == ErrorClass.RATE_LIMITED


def _record_deferral(
    feed: Feed, error: Exception | None, now: datetime, settings: Settings, refresh: FeedRefresh
) -> None:
    """Our own per-host queue was full: try again soon; no error, no attempt counted."""
    assert isinstance(error, TransientFetchError)
    refresh.outcome = FetchOutcome.DEFERRED
    refresh.error_class = error.error_class
    refresh.error = redact_credentials(str(error))[:2000]
    feed.next_check_at = now + _seconds(error.retry_after or settings.dispatch_interval_s)


def _record_error(
    session: Session,
    feed: Feed,
    error: Exception,
    now: datetime,
    settings: Settings,
    refresh: FeedRefresh,
    local_outage: bool,
) -> None:
    error_class = getattr(error, "error_class", None) or ErrorClass.internal(error)
    refresh.outcome = FetchOutcome.GONE if isinstance(error, Gone) else FetchOutcome.ERROR
    refresh.error_class = str(error_class)[:64]
    refresh.error = redact_credentials(str(error))[:2000] or type(error).__name__
    feed.last_error = refresh.error
    feed.last_error_class = refresh.error_class
    if local_outage:
        # Many hosts failing at once, none answering: it is our network, not this feed.
        # Keep its error count and status; poll again on its current rhythm (back-off
        # level included), with jitter so the feeds do not all return in one burst.
        refresh.outcome = FetchOutcome.OFFLINE
        delay = backoff_delay(feed.consecutive_errors, feed.check_interval_s, settings)
        feed.next_check_at = now + _seconds(delay)
        return
    feed.consecutive_errors += 1
    if isinstance(error, Gone):
        # 410 is the publisher saying the feed will never come back: stop polling it.
        feed.status = FeedStatus.GONE
        record_change(session, ChangeKind.FEED_GONE, feed.id, url=feed.url)
        return
    feed.status = FeedStatus.ERRORING
    delay = backoff_delay(feed.consecutive_errors, feed.check_interval_s, settings)
    if isinstance(error, TransientFetchError) and error.retry_after:
        # 429/503 with Retry-After: the server named the time; never come back sooner.
        delay = max(delay, min(error.retry_after, settings.max_backoff_s))
    feed.next_check_at = now + _seconds(delay)


def _status_of(error: Exception | None) -> int | None:
    return getattr(error, "status_code", None)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
