"""Article stubs: one row per canonical URL, one source row per feed that linked it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from models import Article, ArticleSource, ArticleStatus, utcnow
from worker.store.changes import record_change
from worker.store.upsert import insert_ignore


@dataclass(frozen=True)
class Provenance:
    """Who is writing: the ingest run and the task (None outside Celery)."""

    run_id: int | None = None
    task_id: str | None = None


#: Default provenance: no run, no task (tests, ad-hoc calls).
NO_PROVENANCE = Provenance()


@dataclass(frozen=True)
class SourceFields:
    """What one feed entry said about an article."""

    guid: str | None = None
    entry_url: str | None = None
    title: str | None = None
    summary: str | None = None
    content: str | None = None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    updated_at: datetime | None = None
    #: Why a date the entry carried was refused (see worker.text.dates), else ``None``.
    date_error: str | None = None


def upsert_article_stub(
    session: Session,
    *,
    feed_id: int,
    canonical_url: str,
    url: str,
    source: SourceFields,
    provenance: Provenance = NO_PROVENANCE,
) -> tuple[int, bool]:
    """Create the pending article for a feed entry, or attach this feed to the existing one.

    Returns ``(article_id, created)``. Idempotent: the same entry seen again (next poll, a
    redelivered task, another feed linking the same page) never creates a second article.
    """
    now = utcnow()
    article_id, created = insert_ignore(
        session,
        Article,
        {
            "canonical_url": canonical_url,
            "url": url,
            "feed_id": feed_id,
            "guid": source.guid,
            "title": source.title,
            "summary": source.summary,
            "authors": list(source.authors),
            "published_at": source.published_at,
            "published_source": "feed" if source.published_at else None,
            "modified_at": source.updated_at,
            "modified_source": "feed" if source.updated_at else None,
            "date_error": source.date_error,
            "status": ArticleStatus.PENDING,
            "attempts": 0,
            "discovered_at": now,
            "updated_at": now,
            "run_id": provenance.run_id,
            "task_id": provenance.task_id,
        },
        ["canonical_url"],
    )
    _, new_source = insert_ignore(
        session,
        ArticleSource,
        {
            "article_id": article_id,
            "feed_id": feed_id,
            "guid": source.guid,
            "entry_url": source.entry_url,
            "title": source.title,
            "summary": source.summary,
            "content": source.content,
            "authors": list(source.authors),
            "published_at": source.published_at,
            "updated_at": source.updated_at,
            "date_error": source.date_error,
            "first_seen_at": now,
        },
        ["article_id", "feed_id"],
    )
    if created:
        record_change(
            session,
            "article.created",
            article_id,
            url=canonical_url,
            feed_id=feed_id,
            run_id=provenance.run_id,
        )
    elif new_source:
        record_change(session, "article.source_added", article_id, feed_id=feed_id)
    return article_id, created
