"""Optional article retention: ``STORYWIRE_ARTICLE_RETENTION_DAYS`` (off by default).

Usage::

    removed = prune_articles(sessions, timedelta(days=90))

Articles discovered longer ago than the retention are deleted in batches, oldest first, each
with an ``article.deleted`` change in the same transaction, so consumers following the change
feed delete them too. What hangs off an article goes with it (its feed sources, its MinHash
sketch); a copy of it keeps its row with ``duplicate_of`` cleared. Stories stay, with their
counts as they were: they are the record of an event. Keep the retention longer than
``STORYWIRE_STORY_WINDOW_HOURS`` so no live story loses articles.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from models import Article, ChangeKind, in_batches, utcnow
from worker.store import record_change

#: Articles deleted per transaction.
DEFAULT_RETENTION_BATCH = 500
#: Batches per run: a backlog (retention just switched on) is worked off over several runs.
DEFAULT_RETENTION_MAX_BATCHES = 20


def prune_articles(
    sessions: sessionmaker[Session],
    older_than: timedelta,
    *,
    batch: int = DEFAULT_RETENTION_BATCH,
    max_batches: int = DEFAULT_RETENTION_MAX_BATCHES,
) -> int:
    """Delete articles discovered before ``now - older_than``; returns how many."""
    cutoff = utcnow() - older_than
    return in_batches(
        sessions,
        lambda session: _delete_oldest(session, cutoff, batch),
        batch=batch,
        max_batches=max_batches,
    )


def _delete_oldest(session: Session, cutoff: datetime, batch: int) -> int:
    rows = session.execute(
        select(Article.id, Article.canonical_url)
        .where(Article.discovered_at < cutoff)
        .order_by(Article.id)
        .limit(batch)
    ).all()
    for article_id, url in rows:
        record_change(session, ChangeKind.ARTICLE_DELETED, article_id, canonical_url=url)
    if rows:
        session.execute(
            delete(Article)
            .where(Article.id.in_([article_id for article_id, _ in rows]))
            .execution_options(synchronize_session=False)
        )
    return len(rows)
