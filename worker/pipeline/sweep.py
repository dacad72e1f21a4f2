"""Work lost with its task (a killed worker, a broker restart), found again by the sweeper.

Usage (the ``sweep`` task, every ``STORYWIRE_SWEEP_INTERVAL_S``)::

    lost = claim_lost_articles(sessions, stale_before=utcnow() - timedelta(minutes=15))
    lost.pending       # stubs still pending: fetch their pages again
    lost.unassigned    # extracted articles still without a story: assign them again

An article claimed here is touched (``updated_at``), so the next sweep leaves it alone until
it is stale again. Articles whose own story step failed ``DEFAULT_MAX_STORY_ATTEMPTS`` times
are left out: another try would fail the same way; they wait for a fix and
``storywire stories retry``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Article, ArticleStatus, session_scope, utcnow

#: Articles claimed per kind per sweep.
DEFAULT_SWEEP_BATCH = 1000
#: Failures of an article's own story step (``articles.story_attempts``) after which the
#: sweeper stops re-enqueueing it.
DEFAULT_MAX_STORY_ATTEMPTS = 5


@dataclass(frozen=True)
class LostArticles:
    pending: list[int]  # pages to fetch again
    unassigned: list[int]  # articles to give a story again


def claim_lost_articles(
    sessions: sessionmaker[Session], *, stale_before: datetime, batch: int = DEFAULT_SWEEP_BATCH
) -> LostArticles:
    """The articles whose work was lost (untouched since ``stale_before``), claimed."""
    pending = _claim(sessions, Article.status == ArticleStatus.PENDING, stale_before, batch)
    unassigned = _claim(
        sessions,
        and_(
            Article.status != ArticleStatus.PENDING,
            Article.story_id.is_(None),
            Article.story_attempts < DEFAULT_MAX_STORY_ATTEMPTS,
        ),
        stale_before,
        batch,
    )
    return LostArticles(pending, unassigned)


def _claim(
    sessions: sessionmaker[Session],
    condition: ColumnElement[bool],
    stale_before: datetime,
    batch: int,
) -> list[int]:
    with session_scope(sessions) as session:
        ids = list(
            session.scalars(
                select(Article.id).where(condition, Article.updated_at < stale_before).limit(batch)
            )
        )
        if ids:
            session.execute(
                update(Article)
                .where(Article.id.in_(ids))
                .values(updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    return ids
