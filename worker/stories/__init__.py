"""Stories: one per real-world event, however many outlets wrote about it.

Usage::

    from worker.stories import InMemoryStoryIndex, StoryDoc, assign

    index = InMemoryStoryIndex()
    result = assign(index, StoryDoc(id=1, title="...", text="...", published_at=when))
    result.story_id, result.duplicate_of, result.new_story, result.merged

See ``worker/stories/assigner.py`` for the layers and docs/stories.md for the measurements.
"""

from worker.stories.assigner import DEFAULT_CONFIG, Assignment, StoryConfig, assign
from worker.stories.index import InMemoryStoryIndex, StoryDoc, StoryIndex, StoryState

__all__ = [
    "DEFAULT_CONFIG",
    "Assignment",
    "InMemoryStoryIndex",
    "StoryConfig",
    "StoryDoc",
    "StoryIndex",
    "StoryState",
    "assign",
]
