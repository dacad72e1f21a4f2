"""Storage: idempotent writes on natural keys, and the change outbox.

Every function takes an open ``Session`` and never commits: the caller owns the transaction,
so a fact and its ``changes`` row always commit (or roll back) together.
"""

from worker.store.articles import NO_PROVENANCE, Provenance, SourceFields, upsert_article_stub
from worker.store.changes import record_change
from worker.store.feeds import (
    add_feed,
    disable_feed,
    enable_feed,
    feed_auth,
    find_feed,
    remove_feed,
)
from worker.store.upsert import insert_ignore

__all__ = [
    "NO_PROVENANCE",
    "Provenance",
    "SourceFields",
    "add_feed",
    "disable_feed",
    "enable_feed",
    "feed_auth",
    "find_feed",
    "insert_ignore",
    "record_change",
    "remove_feed",
    "upsert_article_stub",
]
