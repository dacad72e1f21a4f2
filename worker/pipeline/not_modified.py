"""A poll answered 304 Not Modified, the commonest of all: what it writes, in two statements.

Usage (``refresh_feed`` does this)::

    polled = session.execute(POLLED, {"id": feed_id}).first()     # before the fetch
    ...
    if plain_not_modified(response) and answered_lately(polled.any_ok_at,
                                                        polled.last_failure_at, utcnow()):
        store_not_modified(session, feed_id, polled.check_interval_s, response, ms, settings)

The same rows as the general path (``worker.pipeline.feed._store``) writes for a 304, without
reading the feed again under a row lock first, and without writing its host's answer to
``host_health`` when some host's answer is on record from less than ``DEFAULT_HOST_OK_FRESH_S``
ago and this host has not failed since: one read before the fetch, then the feed's UPDATE and
the fetch log's INSERT (one statement on Postgres, two on SQLite).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, literal, select, update
from sqlalchemy.orm import Session

from models import Feed, FeedFetch, FeedStatus, FetchOutcome, HostHealth, utcnow
from worker.config import Settings
from worker.fetch import FetchResponse
from worker.scheduler import publisher_floor_s

#: While some host's answer is on record from less than this ago, a 304 is not recorded in
#: ``host_health`` (unless its own host failed since that answer): the outage rule
#: (``worker.pipeline.outage``) compares failures with the latest answer of *any* host over
#: minutes, so the write would move that latest answer by this much at most. A busy worker's
#: 304s then write nothing there, whichever hosts they come from (one row per answer would be
#: a fourth statement for most polls: feeds are spread over many hosts).
DEFAULT_HOST_OK_FRESH_S = 2.0
_FETCHES = cast(Table, FeedFetch.__table__)
# The latest answer of any host: ``host_health.last_ok_at`` is indexed, so this is one index
# probe. Not correlated with the feed's own host row, which the poll reads beside it.
_ANY_HOST_OK_AT = select(func.max(HostHealth.last_ok_at)).correlate(None).scalar_subquery()
#: What a poll reads before it fetches: the feed, and what ``host_health`` says of its host.
POLLED = (
    select(
        Feed.url,
        Feed.status,
        Feed.etag,
        Feed.last_modified,
        Feed.check_interval_s,
        Feed.username,
        Feed.password,
        HostHealth.last_failure_at,
        _ANY_HOST_OK_AT.label("any_ok_at"),
    )
    .outerjoin(HostHealth, HostHealth.host == Feed.host)
    .where(Feed.id == bindparam("id"))
)


def answered_lately(ok: datetime | None, failed: datetime | None, now: datetime) -> bool:
    """Whether the latest answer of any host (``ok``) is recent and the feed's host has not
    failed (``failed``) since."""
    if ok is None or now - ok > timedelta(seconds=DEFAULT_HOST_OK_FRESH_S):
        return False
    return failed is None or failed <= ok


def plain_not_modified(response: FetchResponse) -> bool:
    """A 304 from the feed's own URL (one reached through redirects goes the general way:
    a permanent redirect may have to be adopted)."""
    return response.not_modified and not response.redirects


def store_not_modified(
    session: Session,
    feed_id: int,
    interval_s: int,
    response: FetchResponse,
    duration_ms: int,
    settings: Settings,
) -> bool:
    """Record the 304 on the feed and in its fetch log; False if the feed is gone meanwhile.

    No row lock is needed to keep counters right: the update sets values and reads none (the
    interval was read with the URL; only a refresh with entries changes it)."""
    now = utcnow()
    floor = publisher_floor_s(response.headers, None, settings)
    # A 304 carries the validators again only sometimes: keep the old ones unless replaced.
    validators = {
        column: response.headers[header]
        for column, header in (("etag", "etag"), ("last_modified", "last-modified"))
        if response.headers.get(header)
    }
    feed_update = (
        update(Feed)
        .where(Feed.id == feed_id)
        .values(
            status=FeedStatus.ACTIVE,
            consecutive_errors=0,
            last_error=None,
            last_error_class=None,
            last_success_at=now,
            last_fetched_at=now,
            last_duration_ms=duration_ms,
            last_status_code=response.status_code,
            last_bytes=len(response.content),
            last_entries_seen=0,
            last_entries_new=0,
            redirect_url=None,
            redirect_count=0,
            next_check_at=now + timedelta(seconds=max(interval_s, floor or 0)),
            **validators,
        )
        .execution_options(synchronize_session=False)
    )
    fetch = {
        "started_at": now,
        "duration_ms": duration_ms,
        "status_code": response.status_code,
        "bytes": len(response.content),
        "entries_seen": 0,
        "entries_new": 0,
        "outcome": FetchOutcome.NOT_MODIFIED,
    }
    if session.get_bind().dialect.name == "postgresql":
        # One statement: the fetch is logged for the feed row the update returns (none if the
        # feed was removed meanwhile). SQLite has no data-modifying WITH: two statements.
        polled = feed_update.returning(Feed.id).cte("polled")
        logged = session.execute(
            insert(FeedFetch)
            .from_select(
                ["feed_id", *fetch],
                select(
                    polled.c.id,
                    *(literal(v, _FETCHES.c[k].type).label(k) for k, v in fetch.items()),
                ),
            )
            .add_cte(polled)
            .returning(FeedFetch.id)
        )
        return logged.first() is not None
    updated = session.execute(feed_update)
    if not updated.rowcount:  # type: ignore[attr-defined]
        return False
    session.execute(insert(FeedFetch).values(feed_id=feed_id, **fetch))
    return True
