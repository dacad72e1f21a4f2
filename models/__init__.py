"""Storywire's database models (SQLAlchemy 2, typed) and session factory."""

import models.story_state  # noqa: F401  (registers the story-index tables)
from models.base import Base
from models.db import (
    in_batches,
    make_engine,
    make_read_engine,
    read_only,
    read_scope,
    session_factory,
    session_scope,
)
from models.enums import (
    NETWORK_ERROR_CLASSES,
    ArticleStatus,
    ChangeKind,
    DateSource,
    ErrorClass,
    FeedStatus,
    FetchOutcome,
    RunKind,
    RunStatus,
    StoryMethod,
)
from models.host_health import HostHealth
from models.tables import Article, ArticleSource, Change, Feed, FeedFetch, Run, Story
from models.types import utcnow

__all__ = [
    "NETWORK_ERROR_CLASSES",
    "Article",
    "ArticleSource",
    "ArticleStatus",
    "Base",
    "Change",
    "ChangeKind",
    "DateSource",
    "ErrorClass",
    "Feed",
    "FeedFetch",
    "FeedStatus",
    "FetchOutcome",
    "HostHealth",
    "Run",
    "RunKind",
    "RunStatus",
    "Story",
    "StoryMethod",
    "in_batches",
    "make_engine",
    "make_read_engine",
    "read_only",
    "read_scope",
    "session_factory",
    "session_scope",
    "utcnow",
]
