"""What one story-step transaction holds: the state ``SqlStoryIndex`` shares across its parts.

Usage (``SqlStoryIndex`` is built on it; nothing else needs to)::

    class SqlStoryIndex(StoryProfiles, SketchIndex, TermCounts): ...   # all on BatchState

One per transaction, under the story-step lock: what it has read stays valid for the
transaction, since no other worker writes these tables meanwhile. On Postgres the writes are
held back (``worker.stories.sql_writes``) and sent as one statement by ``flush``; each part's
reads answer from the tables plus what is held back.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models import Article, Change, ChangeKind, Story
from models.story_state import ArticleFeatures, StoryProfile
from worker.store import record_change
from worker.store.changes import change_payload
from worker.stories.index import (
    ArticleRef,
    StoredSketch,
)
from worker.stories.sql_writes import DeferredWrites

#: Candidate stories scored in full per article: the best by partial dot product on the
#: article's heaviest terms. Bounds the work when a common term is in many live stories.
DEFAULT_MAX_CANDIDATES = 50


class BatchState:
    """The state of one transaction of the story step, and the held-back writes."""

    def __init__(self, session: Session, *, max_candidates: int = DEFAULT_MAX_CANDIDATES) -> None:
        self.session = session
        self.max_candidates = max_candidates
        self._postgres = session.get_bind().dialect.name == "postgresql"
        # Read or created in this transaction: story rows and profiles, and the posting terms
        # each story holds — the stored centroid's heaviest terms (``posting_terms``), which
        # ``_write_postings`` keeps equal — so none is read twice. Strong references: the
        # session's identity map holds unmodified rows only weakly.
        self._rows: dict[int, Story] = {}
        self._profiles: dict[int, StoryProfile] = {}
        self._held: dict[int, frozenset[str]] = {}
        self._merged_into: dict[int, int | None] = {}
        # Postgres: the writes held back until ``flush`` (the ORM objects get the new values at
        # once, as committed values, so a read through them sees what the database will
        # hold), and what the reads need to answer as if they had been written: the stories
        # changed since, the sketches by band key, the document frequencies.
        self._writes = DeferredWrites()
        self._changed: set[int] = set()
        self._bands: dict[int, list[StoredSketch]] = {}
        self._df: dict[str, int] = {}
        # SQLite: document counts taken since the last flush, written by it (``TermCounts``).
        self._df_added: Counter[str] = Counter()
        # Story ids taken from the sequence and not used yet (Postgres; the last is used first),
        # the highest of them, and how many articles of the batch are left (``assign_stories``).
        self._story_ids: list[int] = []
        self._story_ids_top = 0
        self.articles_left = 1
        # Whether the counts this process kept from its last batch were checked against the
        # table's token yet (once per transaction, before the first count is taken from them).
        self._kept_checked = False
        # Read ahead for a batch (Postgres): the table's earliest original per content hash and
        # its sketches per band key, as they were before the batch wrote anything.
        self._hash_ahead: dict[str, ArticleRef | None] | None = None
        self._near_ahead: dict[int, list[StoredSketch]] | None = None

    def flush(self, meanwhile: Callable[[], object] | None = None) -> None:
        """Write what is held back (Postgres); ``assign_stories`` calls it at the end.

        ``meanwhile``: run in this thread while the statement runs on the server (it must not
        use the session); it also runs when nothing is held or on SQLite."""
        if not self._postgres:
            if meanwhile is not None:
                meanwhile()
            return
        held = self._writes.take()
        self._changed.clear()
        if self._near_ahead is not None:  # the held sketches are in the table now
            for key, stored in self._bands.items():
                if key in self._near_ahead:
                    self._near_ahead[key].extend(stored)
        self._bands.clear()
        # What the table holds for a content hash may change with the articles written now.
        self._hash_ahead = None
        if held is None:
            if meanwhile is not None:
                meanwhile()
        elif meanwhile is None:
            self.session.execute(*held)
        else:
            _overlapped(lambda: self.session.execute(*held), meanwhile)

    def record_change(self, kind: ChangeKind, entity_id: int, **payload: Any) -> None:
        """``worker.store.record_change``, held back with the other writes on Postgres."""
        if self._postgres and not any(isinstance(o, Change) for o in self.session.new):
            self._writes.change(
                {"kind": kind, "entity_id": entity_id, "payload": change_payload(**payload)}
            )
        else:  # after outbox rows the ORM will write: after them, in the order recorded
            record_change(self.session, kind, entity_id, **payload)

    def forget_features(self, article_ids: Sequence[int]) -> None:
        """Delete these articles' stored features (``worker.stories.features_store``): the
        batch has read them. Held back with the other writes on Postgres."""
        if self._postgres:
            self._writes.forget_features(article_ids)
        else:
            self.session.execute(
                delete(ArticleFeatures)
                .where(ArticleFeatures.article_id.in_(list(article_ids)))
                .execution_options(synchronize_session=False)
            )

    def _set(self, row: object, **values: Any) -> None:
        """Change attributes of a loaded row: now on the object, written by the next flush."""
        if not self._postgres:
            for name, value in values.items():
                setattr(row, name, value)
            return
        if self._writes.is_new(row):
            for name, value in values.items():
                setattr(row, name, value)  # not in the session: inserted whole by flush
            return
        for name, value in values.items():
            set_committed_value(row, name, value)
        table = cast(Table, type(row).__table__)  # type: ignore[attr-defined]
        key = int(getattr(row, table.primary_key.columns.values()[0].name))
        self._writes.update(row, table.name, key, values)
        if isinstance(row, Story):
            self._changed.add(key)

    def _changed_articles(self) -> dict[int, Article]:
        return {
            key: cast(Article, row)
            for (table, key), (row, _) in self._writes.updates.items()
            if table == "articles"
        }


def _overlapped(write: Callable[[], object], meanwhile: Callable[[], object]) -> None:
    """Run ``write`` in a thread of its own while ``meanwhile`` runs in this one; raise what
    ``write`` raised (first) or ``meanwhile`` raised, once both are over.

    Why a thread: the batch's final write is the longest statement (~60 ms of server time for
    32 articles), and this process only waits for it. The thread mostly waits on the socket,
    without the GIL, so ``meanwhile`` (pure Python: the next batch's features) runs at full
    speed; the session is the thread's alone until it is joined."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            write()
        except BaseException as exc:  # re-raised in the caller's thread below
            failed.append(exc)

    writer = threading.Thread(target=run, name="storywire-story-write", daemon=True)
    writer.start()
    try:
        meanwhile()
    finally:
        # Joined even through an interrupt (a task's soft time limit, a shutdown signal): the
        # caller's rollback must not touch the connection while the statement is running.
        interrupted: BaseException | None = None
        while writer.is_alive():
            try:
                writer.join()
            except BaseException as exc:  # re-raised once the write is over
                interrupted = interrupted or exc
        if failed:
            raise failed[0]
        if interrupted is not None:
            raise interrupted
