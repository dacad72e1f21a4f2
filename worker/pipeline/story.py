"""The story step: exact duplicate → (near duplicate → same event, see worker.stories).

Serialized: every assignment runs under one database lock, so two workers never decide about
the same text (or open two stories for one event) at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from models import Article, ArticleStatus, session_scope
from worker.store import record_change

#: Key of the Postgres advisory lock that serializes the story step (any constant works; it
#: only has to be the same in every worker). SQLite needs none: BEGIN IMMEDIATE serializes.
STORY_LOCK_KEY = 0x5707_1E5


#: Copies of one text examined per assignment (bounded work on a hugely syndicated text).
DEFAULT_MAX_COPIES = 100


def _publication_key(article: Article) -> tuple[bool, datetime, int]:
    # Undated articles sort after dated ones; ties go to the older row.
    when = article.published_at or datetime.max.replace(tzinfo=UTC)
    return (article.published_at is None, when, article.id)


@dataclass
class StoryOutcome:
    article_id: int
    duplicate_of: int | None = None
    story_id: int | None = None


def lock_story_step(session: Session) -> None:
    """Take the story-step lock for the rest of the session's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STORY_LOCK_KEY})


def assign_story(sessions: sessionmaker[Session], article_id: int) -> StoryOutcome:
    """Mark an article as a duplicate of an earlier one with the same normalized text."""
    with session_scope(sessions) as session:
        lock_story_step(session)
        article = session.get(Article, article_id)
        outcome = StoryOutcome(article_id)
        if article is None or article.status == ArticleStatus.PENDING:
            return outcome
        if article.duplicate_of is not None or article.content_hash is None:
            outcome.duplicate_of = article.duplicate_of
            return outcome
        copies = session.scalars(
            select(Article)
            .where(
                Article.content_hash == article.content_hash,
                Article.id != article.id,
                Article.duplicate_of.is_(None),
                Article.status != ArticleStatus.PENDING,
            )
            .limit(DEFAULT_MAX_COPIES)
        ).all()
        # The earliest-published copy is the original, whatever order the copies reach this
        # step in: a newcomer older than the current original takes its place, and the
        # copies are re-pointed, so a chain is never longer than one.
        original = min([article, *copies], key=_publication_key)
        demoted = [c.id for c in copies if c is not original]
        followers = (
            session.scalars(select(Article).where(Article.duplicate_of.in_(demoted))).all()
            if demoted
            else []
        )
        for copy in [article, *copies, *followers]:
            if copy is not original and copy.duplicate_of != original.id:
                copy.duplicate_of = original.id
                copy.story_id = original.story_id
                record_change(
                    session, "article.duplicate", copy.id, duplicate_of=original.id, layer="text"
                )
        outcome.duplicate_of = article.duplicate_of
        outcome.story_id = article.story_id
        return outcome
