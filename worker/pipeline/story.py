"""The story step: exact duplicate → (near duplicate → same event, see worker.stories).

Serialized: every assignment runs under one database lock, so two workers never decide about
the same text (or open two stories for one event) at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from models import Article, ArticleStatus, session_scope
from worker.store import record_change

#: Key of the Postgres advisory lock that serializes the story step (any constant works; it
#: only has to be the same in every worker). SQLite needs none: BEGIN IMMEDIATE serializes.
STORY_LOCK_KEY = 0x5707_1E5


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
        original = session.execute(
            select(Article.id, Article.story_id)
            .where(
                Article.content_hash == article.content_hash,
                Article.id != article.id,
                Article.duplicate_of.is_(None),
            )
            .order_by(Article.published_at.asc().nulls_last(), Article.id)
            .limit(1)
        ).first()
        # Whichever copy the serialized step sees first stays the original; a later copy
        # points at the earliest-published original, so the chain is never longer than one.
        if original is not None:
            article.duplicate_of = original.id
            article.story_id = original.story_id
            outcome.duplicate_of = original.id
            outcome.story_id = original.story_id
            record_change(
                session, "article.duplicate", article_id, duplicate_of=original.id, layer="text"
            )
        return outcome
