"""The services behind the tasks: plain functions that tests call without Celery.

refresh_feed(sessions, fetcher, settings, feed_id)   -> FeedRefresh (new article ids)
process_article(sessions, fetcher, settings, id)     -> ArticleOutcome (or RetryLater)
assign_story_step(sessions, article_id)              -> StoryOutcome
"""

from worker.pipeline.article import ArticleOutcome, RetryLater, process_article
from worker.pipeline.feed import FeedRefresh, refresh_feed
from worker.pipeline.story import StoryOutcome, StoryStepBusy, assign_story_step

__all__ = [
    "ArticleOutcome",
    "FeedRefresh",
    "RetryLater",
    "StoryOutcome",
    "StoryStepBusy",
    "assign_story_step",
    "process_article",
    "refresh_feed",
]
