"""Articles created: one row per canonical URL, each with its ``article.created`` change.

Usage::

    upsert_article_stubs(session, feed_id=3, stubs=[Stub(canonical, url, source), ...])
    insert_documents(session, [Document(canonical, url, title, text, ...)], provenance)

A feed entry becomes a pending stub (the page is fetched later), with one source row per
feed that linked it; a document of ``storywire cluster`` is an article known whole (status
``ok``). Both are written here, by the same statements, with the same change payload
(:func:`created_payload`), and the same guarantee: a key seen again is the existing row.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Executable, Table, select
from sqlalchemy.orm import Session

from models import Article, ArticleSource, ArticleStatus, ChangeKind, DateSource, utcnow
from worker.store.changes import record_changes
from worker.store.upsert import insert_for

#: Entries written per statement by ``upsert_article_stubs`` (a feed may list 1,000; each row
#: is ~17 parameters, and SQLite allows 32,766 per statement).
DEFAULT_STUB_CHUNK = 200


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


@dataclass(frozen=True)
class Stub:
    """One feed entry to store: the article's natural key, its URL as linked, the entry."""

    canonical_url: str
    url: str
    source: SourceFields


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
    stub = Stub(canonical_url, url, source)
    return upsert_article_stubs(session, feed_id=feed_id, stubs=[stub], provenance=provenance)[0]


def upsert_article_stubs(
    session: Session,
    *,
    feed_id: int,
    stubs: Sequence[Stub],
    provenance: Provenance = NO_PROVENANCE,
) -> list[tuple[int, bool]]:
    """``upsert_article_stub`` for many entries of one feed, in a few statements per chunk
    (articles, the keys that existed, sources; the changes go out in one batch at flush)
    rather than three round trips per entry.

    Returns ``(article_id, created)`` per stub, in the order given; new articles get their
    ids in that order. Same rows and changes as one call per stub, in that order: an entry
    repeating an earlier one's URL is that article (``created`` False, no second source).
    """
    results: list[tuple[int, bool]] = []
    for start in range(0, len(stubs), DEFAULT_STUB_CHUNK):
        results.extend(
            _upsert_chunk(session, feed_id, stubs[start : start + DEFAULT_STUB_CHUNK], provenance)
        )
    return results


@dataclass(frozen=True)
class Document:
    """An article known whole, text included: a line of ``storywire cluster``'s input."""

    canonical_url: str
    url: str
    title: str | None
    text: str | None
    content_hash: str | None
    published_at: datetime | None
    site_name: str | None


def insert_documents(
    session: Session, docs: Sequence[Document], provenance: Provenance = NO_PROVENANCE
) -> list[tuple[int, bool]]:
    """Create an extracted article (status ``ok``, published date from the ``input``) per
    document, in one statement; a key stored already is that article.

    Returns ``(article_id, created)`` per document, in the order given; new articles get
    their ids in that order, and their ``article.created`` changes follow it too."""
    if not docs:
        return []
    now = utcnow()
    results = _insert_articles(session, [_document_row(doc, provenance, now) for doc in docs])
    record_changes(
        session,
        [
            (
                ChangeKind.ARTICLE_CREATED,
                article_id,
                created_payload(doc.canonical_url, None, provenance),
            )
            for doc, (article_id, created) in zip(docs, results, strict=True)
            if created
        ],
    )
    return results


def created_payload(
    canonical_url: str, feed_id: int | None, provenance: Provenance
) -> dict[str, Any]:
    """The facts of an ``article.created`` change, whoever created the article."""
    return {"url": canonical_url, "feed_id": feed_id, "run_id": provenance.run_id}


_ARTICLES = cast(Table, Article.__table__)
_SOURCES = cast(Table, ArticleSource.__table__)


@functools.cache
def _insert_new(dialect: str, table: Table, key: tuple[str, ...], *returning: str) -> Executable:
    # Built once per dialect and executed with the rows as parameters: SQLAlchemy sends them
    # as one multi-row INSERT ("insertmanyvalues") from a cached compilation. A statement
    # built with ``.values(rows)`` was compiled anew for every feed, ~20 bind parameters a
    # row: a third of a feed refresh's CPU.
    return (
        insert_for(dialect, table)
        .on_conflict_do_nothing(index_elements=list(key))
        .returning(*(table.c[name] for name in returning))
    )


def _insert_articles(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    """Insert the rows whose key is new. Per row, in order: its article's id, and whether
    this statement created it (a key repeated in ``rows`` counts as created once, first)."""
    inserted = session.execute(
        _insert_new(
            session.get_bind().dialect.name, _ARTICLES, ("canonical_url",), "id", "canonical_url"
        ),
        rows,
    ).all()
    created = {key: int(article_id) for article_id, key in inserted}
    ids = dict(created)
    missing = list({row["canonical_url"] for row in rows} - ids.keys())
    if missing:
        ids.update(
            (key, int(article_id))
            for article_id, key in session.execute(
                select(_ARTICLES.c.id, _ARTICLES.c.canonical_url).where(
                    _ARTICLES.c.canonical_url.in_(missing)
                )
            )
        )
    keys = [row["canonical_url"] for row in rows]
    return [(ids[key], created.pop(key, None) is not None) for key in keys]


def _upsert_chunk(
    session: Session, feed_id: int, stubs: Sequence[Stub], provenance: Provenance
) -> list[tuple[int, bool]]:
    now = utcnow()
    results = _insert_articles(session, [_article_row(s, feed_id, provenance, now) for s in stubs])
    rows: dict[int, dict[str, Any]] = {}
    for stub, (article_id, _) in zip(stubs, results, strict=True):
        # One source per article and feed: the first entry linking it.
        rows.setdefault(article_id, _source_row(stub, article_id, feed_id, now))
    new_sources = set(
        session.scalars(
            _insert_new(
                session.get_bind().dialect.name, _SOURCES, ("article_id", "feed_id"), "article_id"
            ),
            list(rows.values()),
        ).all()
    )
    changes: list[tuple[ChangeKind, int, dict[str, Any]]] = []
    for stub, (article_id, created) in zip(stubs, results, strict=True):
        if created:
            facts = created_payload(stub.canonical_url, feed_id, provenance)
            changes.append((ChangeKind.ARTICLE_CREATED, article_id, facts))
        elif article_id in new_sources:
            changes.append((ChangeKind.ARTICLE_SOURCE_ADDED, article_id, {"feed_id": feed_id}))
        new_sources.discard(article_id)
    record_changes(session, changes)
    return results


def _article_row(stub: Stub, feed_id: int, provenance: Provenance, now: datetime) -> dict[str, Any]:
    source = stub.source
    return {
        "canonical_url": stub.canonical_url,
        "url": stub.url,
        "feed_id": feed_id,
        "guid": source.guid,
        "title": source.title,
        "summary": source.summary,
        "authors": list(source.authors),
        "published_at": source.published_at,
        "published_source": DateSource.FEED if source.published_at else None,
        "modified_at": source.updated_at,
        "modified_source": DateSource.FEED if source.updated_at else None,
        "date_error": source.date_error,
        "status": ArticleStatus.PENDING,
        "attempts": 0,
        "discovered_at": now,
        "updated_at": now,
        "run_id": provenance.run_id,
        "task_id": provenance.task_id,
    }


def _document_row(doc: Document, provenance: Provenance, now: datetime) -> dict[str, Any]:
    return {
        "canonical_url": doc.canonical_url,
        "url": doc.url,
        "title": doc.title,
        "text": doc.text,
        "content_hash": doc.content_hash,
        "authors": [],
        "published_at": doc.published_at,
        "published_source": DateSource.INPUT if doc.published_at else None,
        "site_name": doc.site_name,
        "status": ArticleStatus.OK,
        "attempts": 0,
        "discovered_at": now,
        "fetched_at": now,
        "updated_at": now,
        "run_id": provenance.run_id,
        "task_id": provenance.task_id,
    }


def _source_row(stub: Stub, article_id: int, feed_id: int, now: datetime) -> dict[str, Any]:
    source = stub.source
    return {
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
    }
