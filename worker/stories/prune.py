"""Bound the syndicated-copy index: drop sketches and band rows older than the window.

Usage::

    from datetime import timedelta
    from worker.stories.prune import prune_sketches

    removed = prune_sketches(sessions, timedelta(days=30))   # articles whose sketch went

Layer 3 keeps, for every original article, one ``article_sketches`` row and 32
``article_bands`` rows. A syndicated copy appears within days of its original, so a sketch
older than the syndication window is dead weight in the biggest table and its index; exact
copies of any age are still caught by layer 2 (``articles.content_hash``). A copy of a pruned
original is simply not matched by layer 3: it goes on to layer 4 like any other article (and,
being an original now, gets a sketch of its own).

A sketch's age is the later of its ``published_at`` (the article's ``published_at``, else
its fetch or discovery time: ``worker.stories.sql.reported_at``) and its ``added_at`` (when the
story step wrote it; the database's clock, alembic 0007): it is pruned once both are older than
the window, and a sketch without a ``published_at`` ages by ``added_at`` alone. So every
sketch lives at least one window after it entered the store: an article that arrives with an
old date (a back-dated page, a feed replaying its archive, a backfill) keeps its sketch for a
window, and a near copy of it arriving the next day is still found by layer 3. (Ageing by
``published_at`` alone, as before, pruned such a sketch at the next run.)

The same run deletes the stored features (``article_features``, written by the article task
for its story step: ``worker.stories.features_store``) left beside an article that has its
story. The story step deletes its batch's rows itself; this is the backstop for a row it did
not read (an original assigned for its copy), so the table holds no more than the articles
waiting for a story.

Deletes run in batches of ``batch_size`` articles, each in its own short transaction, so a
first run on a big store neither holds one huge transaction nor blocks the story step for
long. Idempotent: a second run finds nothing to delete.

No story-step lock (``worker.stories.step.STORY_LOCK_KEY``) is taken, on purpose: pruning
only deletes rows the story step never writes again (an article is sketched once, when it is
assigned), and the story step never updates a sketch, so the two cannot deadlock or corrupt
anything. The only race is a story step reading a sketch a batch is deleting: it then sees the
sketch or not, and either answer is right for an original at the edge of the window
(``articles.duplicate_of`` points at the article row, which is never deleted here). Taking
the lock would stop every worker's story step for the length of each batch, for nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from models import in_batches, utcnow
from models.story_state import ArticleBand, ArticleSketch
from worker.stories.features_store import prune_features

log = logging.getLogger(__name__)

#: Articles whose sketch is deleted per transaction (32 band rows each).
DEFAULT_PRUNE_BATCH = 1000
#: Batches per call from the beat task: bounds one run (~100k articles) well below the broker's
#: visibility timeout; a backlog (first run on a big store) is worked off over several runs.
DEFAULT_PRUNE_MAX_BATCHES = 100


def prune_sketches(
    sessions: sessionmaker[Session],
    older_than: timedelta,
    *,
    batch_size: int = DEFAULT_PRUNE_BATCH,
    max_batches: int | None = None,
) -> int:
    """Delete the sketch and band rows of articles whose sketch is older than ``older_than``.

    A sketch's age is from the later of its ``published_at`` and ``added_at``.

    Also deletes stored features left beside articles that have their story.

    Returns how many articles lost their sketch. ``max_batches`` caps the work of one call
    (None: until nothing is left).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = utcnow() - older_than

    def prune_batch(session: Session) -> int:
        ids = _old_sketches(session, cutoff, batch_size)
        if ids:
            _delete(session, ids)
        return len(ids)

    removed = in_batches(sessions, prune_batch, batch=batch_size, max_batches=max_batches)
    features = in_batches(
        sessions,
        lambda session: prune_features(session, batch_size),
        batch=batch_size,
        max_batches=max_batches,
    )
    if features:
        log.info("pruned the stored features of %d articles with a story", features)
    return removed


def _old_sketches(session: Session, cutoff: datetime, limit: int) -> list[int]:
    # Due when both dates are past the cutoff, i.e. the later of the two is. The index on
    # added_at (alembic 0007) finds them without a scan; published_at is seldom the later
    # date (only a slightly future-dated article's), so the filter on it rarely skips a row.
    return list(
        session.scalars(
            select(ArticleSketch.article_id)
            .where(
                ArticleSketch.added_at < cutoff,
                or_(ArticleSketch.published_at.is_(None), ArticleSketch.published_at < cutoff),
            )
            .order_by(ArticleSketch.added_at, ArticleSketch.article_id)
            .limit(limit)
        )
    )


def _delete(session: Session, ids: list[int]) -> None:
    # Bands by their article_id index, then the sketches: both by the ids read above, so a
    # sketch written meanwhile (never one of these) keeps its bands.
    session.execute(
        delete(ArticleBand)
        .where(ArticleBand.article_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(ArticleSketch)
        .where(ArticleSketch.article_id.in_(ids))
        .execution_options(synchronize_session=False)
    )


__all__ = ["DEFAULT_PRUNE_BATCH", "DEFAULT_PRUNE_MAX_BATCHES", "prune_sketches"]
