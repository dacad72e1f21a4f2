"""Document counts a worker process keeps between story batches (Postgres).

Usage (``SqlStoryIndex`` does this; nothing else needs to)::

    kept = KEPT_COUNTS
    kept.check(token)                  # the table's token, read under the story-step lock
    df = kept.get("minsk")             # None: not kept, read it from term_stats
    kept.keep(counts, new_token)       # after the batch's write, the token that write left

Why: each batch reads the count of every term of its articles (~4000 for 32 articles), and
nearly all of them were read or written by the batches just before it. The counts are a copy,
never the state: they are trusted only while ``term_stats_version.token`` is the one this
process saw after its own last write. Every statement that writes ``term_stats`` sets a new
random token (a trigger, alembic 0010), and a rolled-back write leaves the old one, so a
write by anyone else, or a batch of ours that did not commit, empties the copy.

Bounded: two generations of about ``limit / 2`` terms each. A batch's terms (read here or
from the table) go to the younger one; when it is full it becomes the older one, and the
previous older one, with the terms no batch has used since, is dropped. The story step
runs one batch at a time in all workers together (its lock), and a lock here keeps threads of
one process from tearing the dicts all the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import cast

from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.orm import Session

from models.story_state import TERM_CHARS, TermStat
from worker.stories.sql_batch import BatchState
from worker.stories.sql_writes import text_array

#: Terms whose counts a worker keeps between batches (about 150 bytes each).
DEFAULT_KEPT_TERMS = 400_000


class KeptCounts:
    """Document counts as of ``token``; see the module's docstring."""

    def __init__(self, limit: int = DEFAULT_KEPT_TERMS) -> None:
        self.limit = limit
        self.token: str | None = None
        self._young: dict[str, int] = {}
        self._old: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def check(self, token: str | None) -> None:
        """Forget every count unless ``token`` is the one they were kept with."""
        with self._lock:
            if token is None or token != self.token:
                self._clear()

    def get(self, term: str) -> int | None:
        """The kept count of ``term`` (0: not in the table), or None when none is kept."""
        found = self._young.get(term)
        if found is None:
            found = self._old.get(term)
        return found

    def keep(self, counts: Mapping[str, int], token: str | None) -> None:
        """``counts`` are the table's once ``token`` is (the batch wrote them, not committed
        yet); a None token keeps nothing."""
        with self._lock:
            if token is None or self.limit <= 0:
                self._clear()
                return
            self.token = token
            self._young.update(counts)
            if len(self._young) > max(self.limit // 2, 1):
                # The older generation goes; what the batches read or wrote since stays.
                self._old = self._young
                self._young = {}

    def _clear(self) -> None:
        self.token = None
        self._young = {}
        self._old = {}


#: The process's counts. One for every database the process uses: a token is random, so the
#: counts of one database are never taken for another's (they are only emptied more often).
KEPT_COUNTS = KeptCounts()


# --- term statistics in SQL (the IDF of layer 4) -------------------------------------------

#: Terms whose document counts one statement reads (a batch of 32 articles has ~4000):
#: past ~5000 on the 100k bench store the planner stops probing the primary key per term.
DEFAULT_TERM_CHUNK = 2000
# Row in term_stats that counts documents (no real term is empty).
DOCUMENTS_TERM = ""

_TERM_STATS = cast(Table, TermStat.__table__)


# SQLite: a batch's increments, one row per term in one executemany, as plain tuples (the
# statement's parameters built per row by SQLAlchemy cost as much as SQLite's work).
_SQLITE_ADD_DF = (
    "INSERT INTO term_stats (term, df) VALUES (?, ?)"
    " ON CONFLICT (term) DO UPDATE SET df = term_stats.df + excluded.df"
)
_SQLITE_TERM_COUNTS = select(_TERM_STATS.c.term, _TERM_STATS.c.df).where(
    _TERM_STATS.c.term.in_(bindparam("terms", expanding=True))
)


# Postgres: arrays as parameters — one statement text whatever their length, so psycopg
# prepares it once (an expanding IN is a new text for every length).
# A join with the unnested array, not ``term = ANY(:terms)``: for an array of a few thousand
# terms the planner turns ANY into a sequential scan of the table, while the join probes the
# primary key per term (the plans: docs/stories.md). Past ~5000 terms the join becomes a
# hash join over the table too: reads are cut into chunks of DEFAULT_TERM_CHUNK.
_PG_TERM_COUNTS = text(
    "SELECT s.term, s.df FROM unnest(CAST(CAST(:terms AS text) AS varchar[])) AS t(term)"
    " JOIN term_stats AS s ON s.term = t.term"
)
# The token the last write of term_stats left (alembic 0010): the kept counts are the table's
# while it is the one they were kept with.
_PG_COUNTS_TOKEN = text("SELECT token FROM term_stats_version WHERE id = 1")


class TermCounts(BatchState):
    """Layer 4's document counts (``term_stats``) for ``SqlStoryIndex``."""

    def _read_counts(self, wanted: Iterable[str]) -> None:
        """Document counts of the terms not read yet in this transaction (0: not in the table):
        on Postgres those this process kept from its last batch, if still valid; the rest
        from the table."""
        df = self._df
        unknown = {t for t in wanted if t not in df}
        if self._postgres:
            if not self._kept_checked:
                self._kept_checked = True
                KEPT_COUNTS.check(self.session.execute(_PG_COUNTS_TOKEN).scalar())
            for term in list(unknown):
                kept = KEPT_COUNTS.get(term)
                if kept is not None:
                    df[term] = kept
                    unknown.discard(term)
        df.update(dict.fromkeys(unknown, 0))
        df.update(_stored_counts(self.session, sorted(unknown), postgres=self._postgres))

    def count_document(self, terms: Iterable[str]) -> tuple[int, dict[str, int]]:
        wanted = sorted({t[:TERM_CHARS] for t in terms} | {DOCUMENTS_TERM})
        # The counts are read once per transaction and counted on here: exact, since no other
        # story step writes them meanwhile (the story-step lock on Postgres; on SQLite the
        # write lock, taken when the transaction begins). The increments go out with the
        # batch's writes (Postgres), or in one statement when it ends (SQLite, ``flush``):
        # not ~130 upserts and a read per article while the other workers wait for the lock.
        self._read_counts(wanted)
        df = self._df
        for t in wanted:
            df[t] += 1
        if self._postgres:
            self._writes.count_terms(wanted)
        else:
            self._df_added.update(wanted)
        counts = {t: df[t] for t in wanted}
        return counts.pop(DOCUMENTS_TERM), counts

    def flush(self, meanwhile: Callable[[], object] | None = None) -> None:
        """``BatchState.flush``, and on SQLite the counts taken since the last one."""
        if self._df_added:
            rows = sorted(self._df_added.items())
            self._df_added.clear()
            self.session.connection().exec_driver_sql(_SQLITE_ADD_DF, rows)
        super().flush(meanwhile)

    def _keep_counts(self) -> None:
        """At the end of a batch: keep the counts for the next one, with the token its writes
        left (Postgres)."""
        if self._df:
            KEPT_COUNTS.keep(self._df, self.session.execute(_PG_COUNTS_TOKEN).scalar())


def read_term_counts(session: Session, terms: Iterable[str]) -> tuple[int, dict[str, int]]:
    """The documents counted and each term's document count (0: never seen), as stored. A
    term longer than the stored key is counted under its cut form."""
    terms = set(terms)
    wanted = sorted({t[:TERM_CHARS] for t in terms} | {DOCUMENTS_TERM})
    postgres = session.get_bind().dialect.name == "postgresql"
    df = _stored_counts(session, wanted, postgres=postgres)
    n_docs = df.pop(DOCUMENTS_TERM, 0)
    return n_docs, {t: df.get(t[:TERM_CHARS], 0) for t in terms}


def _stored_counts(session: Session, terms: Sequence[str], *, postgres: bool) -> dict[str, int]:
    """``term_stats``' counts of these terms (those it holds), ``DEFAULT_TERM_CHUNK`` a
    statement (on Postgres one array literal each: psycopg would convert thousands of
    parameters one by one)."""
    found: dict[str, int] = {}
    for start in range(0, len(terms), DEFAULT_TERM_CHUNK):
        chunk = terms[start : start + DEFAULT_TERM_CHUNK]
        if postgres:
            rows = session.execute(_PG_TERM_COUNTS, {"terms": text_array(chunk)})
        else:
            rows = session.execute(_SQLITE_TERM_COUNTS, {"terms": list(chunk)})
        found.update((term, int(count)) for term, count in rows)
    return found
