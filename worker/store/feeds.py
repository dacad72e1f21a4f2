"""Feed rows: add (idempotent on URL), find by URL or id, remove, disable and enable."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ChangeKind, Feed, FeedStatus, utcnow
from worker.store.changes import record_change
from worker.store.upsert import insert_ignore
from worker.urls import canonicalize, host_of, split_credentials


def add_feed(
    session: Session, url: str, *, title: str | None = None, interval_s: int = 900
) -> tuple[Feed, bool]:
    """Register a feed; adding the same (canonical) URL again returns the existing row.

    Returns ``(feed, created)``. The feed is due immediately. A ``user:password@`` in the URL
    is kept apart (``feeds.username``/``password``, sent to that feed only): the row's URL,
    its changes, logs and exports never show it. Adding a known URL with other credentials
    replaces them (a new password).
    """
    plain, username, password = split_credentials(canonicalize(url))
    feed_id, created = insert_ignore(
        session,
        Feed,
        {
            "url": plain,
            "host": host_of(plain),
            "title": title,
            "username": username,
            "password": password,
            "status": FeedStatus.ACTIVE,
            "consecutive_errors": 0,
            "check_interval_s": interval_s,
            "next_check_at": utcnow(),
            "redirect_count": 0,
            "created_at": utcnow(),
            "updated_at": utcnow(),
        },
        ["url"],
    )
    if created:
        record_change(session, ChangeKind.FEED_CREATED, feed_id, url=plain)
    feed = session.get(Feed, feed_id)
    assert feed is not None
    if (username or password) and (feed.username, feed.password) != (username, password):
        feed.username, feed.password = username, password
    return feed, created


class _Credentials(Protocol):
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...


def feed_auth(feed: _Credentials) -> tuple[str, str] | None:
    """HTTP Basic ``(username, password)`` to fetch ``feed`` with, if it has credentials."""
    if feed.username is None and feed.password is None:
        return None
    return feed.username or "", feed.password or ""


def find_feed(session: Session, ref: str | int) -> Feed | None:
    """A feed by numeric id or by URL (canonicalized before lookup, credentials ignored)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return session.get(Feed, int(ref))
    try:
        canonical = split_credentials(canonicalize(ref))[0]
    except ValueError:
        return None
    return session.execute(select(Feed).where(Feed.url == canonical)).scalar_one_or_none()


def remove_feed(session: Session, feed: Feed) -> None:
    """Delete a feed and its fetch log. Its articles stay (their ``feed_id`` becomes NULL)."""
    record_change(session, ChangeKind.FEED_REMOVED, feed.id, url=feed.url)
    session.delete(feed)


def disable_feed(session: Session, feed: Feed) -> None:
    """Stop polling a feed; it keeps its articles and history. Idempotent."""
    if feed.status != FeedStatus.DISABLED:
        feed.status = FeedStatus.DISABLED
        record_change(session, ChangeKind.FEED_DISABLED, feed.id, url=feed.url)


def enable_feed(session: Session, feed: Feed) -> None:
    """Poll a disabled (or gone) feed again from now on, its error count cleared. Idempotent
    for a feed already polled."""
    if feed.status in (FeedStatus.DISABLED, FeedStatus.GONE):
        feed.status = FeedStatus.ACTIVE
        feed.consecutive_errors = 0
        feed.next_check_at = utcnow()
        record_change(session, ChangeKind.FEED_ENABLED, feed.id, url=feed.url)
