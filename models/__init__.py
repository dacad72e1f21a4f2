"""Storywire's database models (SQLAlchemy 2, typed) and session factory."""

import models.story_state  # noqa: F401  (registers the story-index tables)
from models.base import Base
from models.db import make_engine, session_factory, session_scope
from models.health import HostHealth
from models.tables import (
    Article,
    ArticleSource,
    ArticleStatus,
    Change,
    Feed,
    FeedFetch,
    FeedStatus,
    Run,
    RunKind,
    Story,
)
from models.types import utcnow

__all__ = [
    "Article",
    "ArticleSource",
    "ArticleStatus",
    "Base",
    "Change",
    "Feed",
    "FeedFetch",
    "FeedStatus",
    "HostHealth",
    "Run",
    "RunKind",
    "Story",
    "make_engine",
    "session_factory",
    "session_scope",
    "utcnow",
]
