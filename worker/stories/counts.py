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
from collections.abc import Mapping

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
