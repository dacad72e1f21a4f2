"""Stories: one per real-world event, however many outlets wrote about it.

Usage::

    from worker.stories import assign_stories, refine_stories, prune_sketches

    with session_scope(sessions) as session:                  # assign: the online step
        results = assign_stories(session, [article_id])       # in the caller's transaction
    report = refine_stories(sessions, window=timedelta(hours=72))   # refine: the correction
    removed = prune_sketches(sessions, timedelta(days=30))    # prune: bound the copy index

    index = InMemoryStoryIndex()                              # the same layers in memory
    result = assign(index, StoryDoc(id=1, title="...", text="...", published_at=when))

One entry per operation; the rest of the package is how they work (docs/stories.md has the
names table and the measurements): ``assigner`` the layers, ``scoring`` the time and length
calibrations, ``partition`` the window re-clustering, ``step`` / ``sql*`` the database side.
"""

from worker.stories.assigner import (
    ALREADY_ASSIGNED,
    DEFAULT_CONFIG,
    Assignment,
    StoryConfig,
    assign,
)
from worker.stories.features_store import features_row, store_features
from worker.stories.index import InMemoryStoryIndex, StoryDoc, StoryIndex, StoryState
from worker.stories.prune import prune_sketches
from worker.stories.refine import RefineReport, refine_stories
from worker.stories.step import (
    Prepared,
    assign_stories,
    lock_story_step,
    prepare_features,
    record_story_failure,
    reset_story_failures,
    try_lock_story_step,
    unassigned_articles,
    waiting_docs,
)

__all__ = [
    "ALREADY_ASSIGNED",
    "DEFAULT_CONFIG",
    "Assignment",
    "InMemoryStoryIndex",
    "Prepared",
    "RefineReport",
    "StoryConfig",
    "StoryDoc",
    "StoryIndex",
    "StoryState",
    "assign",
    "assign_stories",
    "features_row",
    "lock_story_step",
    "prepare_features",
    "prune_sketches",
    "record_story_failure",
    "refine_stories",
    "reset_story_failures",
    "store_features",
    "try_lock_story_step",
    "unassigned_articles",
    "waiting_docs",
]
