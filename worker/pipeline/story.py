"""The story step: exact copy → syndicated copy → same event → new story.

A thin wrapper over ``worker.stories.store`` (the layers and their state live in
``worker/stories/``) that owns the transaction. Serialized: the story-step lock is taken
first, so two workers never open two stories for one event at the same moment.

The worker's task assigns in batches: with its article, the other articles waiting for a story
(a backlog on the ``stories`` queue), oldest report first, in one transaction — the same
results as one transaction each, for a fraction of the database work per article.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from models import session_scope
from worker.config import Settings
from worker.stories import DEFAULT_CONFIG, StoryConfig
from worker.stories.assigner import Assignment
from worker.stories.store import assign_stories, lock_story_step, unassigned_articles

log = logging.getLogger(__name__)

#: Articles the offline backfill assigns per transaction.
DEFAULT_BACKFILL_BATCH = 32
#: Articles remembered as failing alone (per process).
DEFAULT_MAX_FAILED_ALONE = 1_000

# Articles whose own assignment failed in this process, left out of its later batches: else an
# article that cannot be assigned would fail every batch while it is among the oldest waiting.
# A hint, not state: lost with the process (the batches then fail once more and it is relearnt).
_failed_alone: set[int] = set()


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
    sessions: sessionmaker[Session],
    article_id: int,
    config: StoryConfig = DEFAULT_CONFIG,
    *,
    batch: int = 1,
) -> StoryOutcome:
    """Assign an extracted article to its story (idempotent; pending articles are skipped).

    With ``batch`` > 1, up to ``batch - 1`` other articles still without a story are assigned
    in the same transaction, all in the order of their reports. Should that transaction fail,
    the article is assigned alone: one article that cannot be assigned holds up only its own
    task (the others are still waiting, and their own tasks or the sweep come back to them).
    An article that failed alone is left out of this process's later batches.
    """
    if batch > 1 and article_id not in _failed_alone:
        try:
            with session_scope(sessions) as session:
                # Chosen under the lock: no other worker is choosing or assigning meanwhile.
                lock_story_step(session)
                ids = unassigned_articles(
                    session, batch - 1, include=article_id, exclude=_failed_alone
                )
                results = dict(zip(ids, assign_stories(session, ids, config), strict=True))
            return _outcome(article_id, results.get(article_id))
        except Exception:  # whatever it was, the article alone is tried next (that one raises)
            log.warning("story batch failed; assigning article %s alone", article_id, exc_info=True)
    try:
        with session_scope(sessions) as session:
            result = assign_stories(session, [article_id], config)[0]
    except Exception:
        if len(_failed_alone) < DEFAULT_MAX_FAILED_ALONE:
            _failed_alone.add(article_id)
        raise
    _failed_alone.discard(article_id)
    return _outcome(article_id, result)


def assign_batch(
    sessions: sessionmaker[Session],
    article_ids: Sequence[int],
    config: StoryConfig = DEFAULT_CONFIG,
) -> list[StoryOutcome]:
    """Assign these articles, in this order, in one transaction (the offline backfill's step)."""
    with session_scope(sessions) as session:
        results = assign_stories(session, article_ids, config)
    return [_outcome(i, r) for i, r in zip(article_ids, results, strict=True)]


def _outcome(article_id: int, result: Assignment | None) -> StoryOutcome:
    if result is None:
        return StoryOutcome(article_id)
    return StoryOutcome(
        article_id, result.duplicate_of, result.story_id, result.new_story, result.method
    )
