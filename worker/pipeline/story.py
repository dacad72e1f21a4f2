"""The story step: exact copy → syndicated copy → same event → new story.

A thin wrapper over ``worker.stories.store.assign_story`` (the layers and their state live in
``worker/stories/``) that owns the transaction. Serialized: the story-step lock is taken
first, so two workers never open two stories for one event at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from models import session_scope
from worker.config import Settings
from worker.stories import DEFAULT_CONFIG, StoryConfig
from worker.stories.store import assign_story as assign_in_session


@dataclass
class StoryOutcome:
    article_id: int
    duplicate_of: int | None = None
    story_id: int | None = None
    new_story: bool = False
    method: str | None = None  # exact | near | similar | new | done; None: nothing to assign


def story_config(settings: Settings) -> StoryConfig:
    """The shipped story configuration with the deployment's time window."""
    return DEFAULT_CONFIG.with_(window=timedelta(hours=settings.story_window_hours))


def assign_story(
    sessions: sessionmaker[Session], article_id: int, config: StoryConfig = DEFAULT_CONFIG
) -> StoryOutcome:
    """Assign an extracted article to its story (idempotent; pending articles are skipped)."""
    with session_scope(sessions) as session:
        result = assign_in_session(session, article_id, config)
    if result is None:
        return StoryOutcome(article_id)
    return StoryOutcome(
        article_id, result.duplicate_of, result.story_id, result.new_story, result.method
    )
