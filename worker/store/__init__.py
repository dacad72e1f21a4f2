"""Storage: idempotent writes on natural keys, and the change outbox.

Every function takes an open ``Session`` and never commits: the caller owns the transaction,
so a fact and its ``changes`` row always commit (or roll back) together.
"""

from worker.store.articles import (
    NO_PROVENANCE,
    Document,
    Provenance,
    SourceFields,
    Stub,
    insert_documents,
    upsert_article_stub,
    upsert_article_stubs,
)
from worker.store.changes import record_change, record_changes
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
    "Document",
    "Provenance",
    "SourceFields",
    "Stub",
    "add_feed",
    "disable_feed",
    "enable_feed",
    "feed_auth",
    "find_feed",
    "insert_documents",
    "insert_ignore",
    "record_change",
    "record_changes",
    "remove_feed",
    "upsert_article_stub",
    "upsert_article_stubs",
]
