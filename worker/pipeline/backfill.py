"""Offline backfill: documents from a file go through the worker's own story step.

Usage::

    with open(path, "rb") as file:
        found = plan(file)                      # worker.pipeline.backfill_input
        if not found.errors:
            results = backfill(sessions, found.docs(file))

Each document becomes an article row (status ok, text given), written by the store's own
writer (``worker.store.insert_documents``, the same ``article.created`` as a feed's entry),
``DEFAULT_STORE_BATCH`` documents per transaction; then the story step runs on each in
publication order — the worker's own code, in batches of ``DEFAULT_BACKFILL_BATCH`` per
transaction as the ``assign_story`` task batches a backlog (with the same results as one by
one) — so a backfill and a live worker group documents the same way. A file of millions of
documents is read twice (checked, then stored line by line in publication order), never held
in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import Article, session_scope
from worker.dedupe import content_hash
from worker.pipeline.backfill_input import BackfillDoc
from worker.pipeline.story import DEFAULT_BACKFILL_BATCH, assign_backfill_batch
from worker.store import Document, Provenance, insert_documents
from worker.stories import DEFAULT_CONFIG, StoryConfig, refine_stories
from worker.urls import canonicalize, host_of

#: Documents stored per transaction.
DEFAULT_STORE_BATCH = 500
#: Articles whose results one statement reads back.
DEFAULT_READ_CHUNK = 10_000


@dataclass(frozen=True)
class BackfillResult:
    id: str
    story_id: int | None
    duplicate_of: str | None


def backfill(
    sessions: sessionmaker[Session],
    docs: Iterable[BackfillDoc],
    *,
    run_id: int | None = None,
    config: StoryConfig = DEFAULT_CONFIG,
    on_progress: Callable[[int], None] | None = None,
    refine_max_articles: int | None = None,
) -> list[BackfillResult]:
    """Store the documents as articles and assign their stories in the order given: the
    publication order (``BackfillPlan.docs``, or ``publication_order`` of a list); then
    refine them all, as beat refines a live worker's window (``refine_stories`` with no
    window: the whole timeline, windows of at most ``refine_max_articles``; None: the default).

    ``docs`` is read once, ``DEFAULT_STORE_BATCH`` documents per transaction; only their ids
    are kept."""
    ids: list[str] = []
    article_ids: list[int] = []
    for chunk in _chunks(docs, DEFAULT_STORE_BATCH):
        with session_scope(sessions) as session:
            article_ids += _store(session, chunk, run_id)
        ids += [doc.id for doc in chunk]
    prepared = None
    for start in range(0, len(article_ids), DEFAULT_BACKFILL_BATCH):
        chunk_ids = article_ids[start : start + DEFAULT_BACKFILL_BATCH]
        following = article_ids[start + DEFAULT_BACKFILL_BATCH : start + 2 * DEFAULT_BACKFILL_BATCH]
        # In order, as one by one would (tested); the next chunk's features are computed
        # while this one is written.
        _, prepared = assign_backfill_batch(
            sessions, chunk_ids, config, prepared=prepared, following=following
        )
        if on_progress:
            on_progress(len(chunk_ids))
    refine_stories(sessions, window=None, max_articles=refine_max_articles, story_config=config)
    assigned = _assigned(sessions, article_ids)
    first: dict[int, str] = {}  # the id of the document that stored each article row
    for aid, doc_id in zip(article_ids, ids, strict=True):
        first.setdefault(aid, doc_id)
    results = []
    for aid, doc_id in zip(article_ids, ids, strict=True):
        story_id, original = assigned[aid]
        if first[aid] != doc_id:
            # Another id with the same URL (layer 1: the same article): a copy of the first.
            duplicate_of: str | None = first[aid]
        else:
            duplicate_of = first.get(original) if original is not None else None
        results.append(BackfillResult(doc_id, story_id, duplicate_of))
    return results


def _chunks(docs: Iterable[BackfillDoc], size: int) -> Iterator[list[BackfillDoc]]:
    chunk: list[BackfillDoc] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _assigned(
    sessions: sessionmaker[Session], article_ids: list[int]
) -> dict[int, tuple[int | None, int | None]]:
    """The story and original of each article, read in chunks: a statement takes at most
    65,535 parameters on Postgres (and 32,766 on many SQLite builds)."""
    unique = list(dict.fromkeys(article_ids))
    query = select(Article.id, Article.story_id, Article.duplicate_of)
    assigned: dict[int, tuple[int | None, int | None]] = {}
    with session_scope(sessions) as session:
        for start in range(0, len(unique), DEFAULT_READ_CHUNK):
            chunk = unique[start : start + DEFAULT_READ_CHUNK]
            for row in session.execute(query.where(Article.id.in_(chunk))):
                assigned[row.id] = (row.story_id, row.duplicate_of)
    return assigned


def _store(session: Session, docs: list[BackfillDoc], run_id: int | None) -> list[int]:
    """The article of each document (an id or URL seen before: the same article)."""
    stored = insert_documents(session, [_document(doc, run_id) for doc in docs], Provenance(run_id))
    return [article_id for article_id, _created in stored]


def _document(doc: BackfillDoc, run_id: int | None) -> Document:
    key = _canonical(doc, run_id)
    return Document(
        canonical_url=key,
        url=doc.url or key,
        title=doc.title or None,
        text=doc.text or None,
        content_hash=content_hash(doc.text) if doc.text else None,
        published_at=doc.published_at,
        site_name=doc.source or (host_of(doc.url) if doc.url else None),
    )


def _canonical(doc: BackfillDoc, run_id: int | None) -> str:
    if doc.url:
        try:
            return canonicalize(doc.url)
        except ValueError:
            pass
    digest = hashlib.sha256(doc.id.encode("utf-8")).hexdigest()[:32]
    return f"urn:storywire:backfill:{run_id or 0}:{digest}"


__all__ = ["BackfillResult", "backfill"]
