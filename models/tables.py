"""The tables: Storywire's contract with the services that read its database.

Every column is documented in the README ("Tables"); changes go through an Alembic migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text  # in Article, `text` is a column
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.enums import ArticleStatus, FeedStatus, RunStatus
from models.types import JSONType, UTCDateTime, utcnow

#: Integer primary key that is 64-bit on Postgres and a rowid alias on SQLite.
BigID = BigInteger().with_variant(Integer(), "sqlite")


class Run(Base):
    """One ingest run: a worker process's lifetime, a one-off fetch or a backfill."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # RunKind
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    args: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Last sign of life of a running run: long-running processes (a worker, the beat, an
    # inline fetch) stamp it periodically; a stale one means its process is gone.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)  # never with user:password@
    host: Mapped[str] = mapped_column(String(255), index=True)
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    # HTTP Basic credentials, kept apart from the URL that changes, logs and exports show.
    username: Mapped[str | None] = mapped_column(Text)
    password: Mapped[str | None] = mapped_column(Text)
    # HTTP validators for the next conditional GET.
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    # Health.
    status: Mapped[str] = mapped_column(String(16), default=FeedStatus.ACTIVE, index=True)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_class: Mapped[str | None] = mapped_column(String(64))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_bytes: Mapped[int | None] = mapped_column(Integer)
    last_entries_seen: Mapped[int | None] = mapped_column(Integer)
    last_entries_new: Mapped[int | None] = mapped_column(Integer)
    # Schedule: state lives here, never in a broker countdown.
    check_interval_s: Mapped[int] = mapped_column(Integer, default=900)
    next_check_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # A permanent redirect is adopted only once it repeats.
    redirect_url: Mapped[str | None] = mapped_column(Text)
    redirect_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FeedFetch(Base):
    """One row per fetch of a feed: the trace `storywire feeds list` summarizes."""

    __tablename__ = "feed_fetches"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    bytes: Mapped[int | None] = mapped_column(Integer)
    entries_seen: Mapped[int | None] = mapped_column(Integer)
    entries_new: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))  # FetchOutcome
    error_class: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)


class Story(Base):
    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    headline: Mapped[str | None] = mapped_column(Text)
    first_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    article_count: Mapped[int] = mapped_column(Integer, default=0)
    outlet_count: Mapped[int] = mapped_column(Integer, default=0)
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    language: Mapped[str | None] = mapped_column(String(16))
    merged_into: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    canonical_url: Mapped[str] = mapped_column(Text, unique=True)
    url: Mapped[str] = mapped_column(Text)
    feed_id: Mapped[int | None] = mapped_column(
        ForeignKey("feeds.id", ondelete="SET NULL"), index=True
    )
    guid: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    published_source: Mapped[str | None] = mapped_column(String(16))
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    modified_source: Mapped[str | None] = mapped_column(String(16))
    # Why a date the page (or else the feed) declared was refused: unreadable, no day, out of
    # range or in the future ("jsonld datePublished '2999-01-01': in the future").
    date_error: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    site_name: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=ArticleStatus.PENDING)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    error_class: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Tries of the page that started and never ended (the worker was killed or hit its time
    # limit mid-page), counted before each try so that a crash is counted too.
    unfinished_tries: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The story step's own failures (worker/pipeline/story.py): the last one's class and
    # message, cleared when it is assigned, and how many there were (not the database's).
    story_error: Mapped[str | None] = mapped_column(Text)
    story_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    # Provenance: the run that discovered the article, and the task that last wrote it.
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    task_id: Mapped[str | None] = mapped_column(String(64))

    # The sweeper looks for stubs left pending; consumers list by status.
    __table_args__ = (Index("ix_articles_status_discovered_at", "status", "discovered_at"),)


class ArticleSource(Base):
    """Each feed entry that pointed at an article, with what that feed said about it.

    An article reachable from two feeds is stored once; each feed is a source here.
    """

    __tablename__ = "article_sources"
    __table_args__ = (
        UniqueConstraint("article_id", "feed_id"),
        # The oldest entry date of a feed, in one index lookup (worker/pipeline/dates.py).
        Index("ix_article_sources_feed_id_published_at", "feed_id", "published_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    guid: Mapped[str | None] = mapped_column(Text)
    entry_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    # Full text the feed itself carried (content:encoded, Atom content), as HTML: the
    # fallback when the page cannot be fetched, or the only text of a link-less entry.
    content: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why a date this entry carried was refused ("published '-1': no year"), else NULL.
    date_error: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Change(Base):
    """The outbox: one row per fact, written in the transaction that made the fact.

    Ids become visible in increasing order (on Postgres a commit-time trigger renumbers the
    rows of each transaction under a lock, see the 0002 migration; SQLite has one writer at a
    time), so "everything after id N" never skips a row that commits late.
    """

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # ChangeKind
    entity_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
