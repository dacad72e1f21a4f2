"""Read the change feed: every fact after a cursor, in order, none missed, none twice.

Usage::

    from sqlalchemy import create_engine
    from worker.changefeed import iter_changes

    engine = create_engine("postgresql+psycopg://…")
    cursor = load_my_cursor()                       # 0 the first time
    for change in iter_changes(engine, since=cursor):
        handle(change.kind, change.entity_id, change.payload)
        cursor = change.id                          # store it after handling
    # follow=True keeps waiting for new changes (LISTEN/NOTIFY on Postgres, polling elsewhere)

Ids only ever become visible in increasing order (see the 0002 migration), so a consumer
that remembers the last id it handled can resume from any point. A consumer that does not
want to import Storywire runs the same query itself::

    SELECT id, kind, entity_id, payload, created_at FROM changes
    WHERE id > :cursor ORDER BY id LIMIT 500
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

from models import Change, utcnow
from worker.store.changes import NOTIFY_CHANNEL

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Rows fetched per query.
DEFAULT_PAGE_SIZE = 500
#: Seconds between polls when following without NOTIFY (SQLite) or as a NOTIFY fallback.
DEFAULT_POLL_INTERVAL_S = 1.0
#: Longest pause between two attempts to reach the database again while following.
DEFAULT_RECONNECT_MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class ChangeRecord:
    id: int
    kind: str
    entity_id: int
    payload: dict[str, Any]
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "entity_id": self.entity_id,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }


def read_page(
    engine: Engine,
    since: int,
    *,
    kinds: Iterable[str] | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> list[ChangeRecord]:
    """The next ``limit`` changes with ``id > since``, in id order."""
    query = select(Change).where(Change.id > since).order_by(Change.id).limit(limit)
    wanted = list(kinds or [])
    if wanted:
        query = query.where(Change.kind.in_(wanted))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [ChangeRecord(r.id, r.kind, r.entity_id, r.payload, r.created_at) for r in rows]


def iter_changes(
    engine: Engine,
    since: int = 0,
    *,
    kinds: Iterable[str] | None = None,
    follow: bool = False,
    page_size: int = DEFAULT_PAGE_SIZE,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
) -> Iterator[ChangeRecord]:
    """Every change after ``since``; with ``follow``, keep waiting for more (never returns).

    A follower rides out database restarts and failovers: a lost connection is retried with
    back-off (up to ``DEFAULT_RECONNECT_MAX_WAIT_S`` between attempts, for as long as it
    takes) and reading goes on after the last change yielded, so none is yielded twice and
    none is skipped. Without ``follow`` the error is raised, as for any one-off query."""
    wanted = list(kinds or [])
    if not follow:
        cursor = since
        while True:
            page = read_page(engine, cursor, kinds=wanted, limit=page_size)
            yield from page
            if len(page) < page_size:
                return
            cursor = page[-1].id
    follower = _Follower(engine, poll_interval_s)
    cursor = since
    try:
        while True:
            page = follower.reconnecting(partial(follower.read, cursor, wanted, page_size))
            for change in page:
                yield change
                cursor = change.id
            if len(page) < page_size:
                follower.reconnecting(follower.wait)
    finally:
        follower.close()


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    pause = state.next_action.sleep if state.next_action else 0.0
    reason = str(error).strip().split("\n", 1)[0] if error else "unknown error"
    log.warning("change feed: database unreachable (%s); retrying in %.1f s", reason, pause)


class _Follower:
    """Reads pages and waits between them; after a lost connection, the next call starts
    over with a new LISTEN connection (the pool replaces the reading one by itself)."""

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._waiter: _Waiter | None = None

    def reconnecting(self, step: Callable[[], _T]) -> _T:
        """``step()``, retried with back-off for as long as the database cannot be reached."""
        retrying = Retrying(
            retry=retry_if_exception(self._lost_connection),
            # Jittered, so the followers of one database do not all come back at once.
            wait=wait_exponential(multiplier=0.5, max=DEFAULT_RECONNECT_MAX_WAIT_S)
            + wait_random(0, 0.5),
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(step)

    def _lost_connection(self, exc: BaseException) -> bool:
        if isinstance(exc, DBAPIError):  # a query or connect through SQLAlchemy
            return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
        # The driver's own error, raised while waiting on the raw LISTEN connection.
        dbapi = self._engine.dialect.loaded_dbapi
        return isinstance(exc, dbapi.OperationalError | dbapi.InterfaceError)

    def read(self, cursor: int, kinds: list[str], limit: int) -> list[ChangeRecord]:
        if self._waiter is None:
            # Listening before reading: a change committed in between wakes the next wait.
            self._waiter = _Waiter(self._engine, self._interval_s)
        try:
            return read_page(self._engine, cursor, kinds=kinds, limit=limit)
        except Exception:
            self.close()
            raise

    def wait(self) -> None:
        if self._waiter is None:
            self._waiter = _Waiter(self._engine, self._interval_s)
        try:
            self._waiter.wait()
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            waiter.close()


class _Waiter:
    """Sleeps until a NOTIFY (Postgres) or for the poll interval (anything else).

    NOTIFY is only a hint: a wake-up is always followed by a read from the cursor, and the
    timeout bounds the wait even if a notification was lost.
    """

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self._interval_s = interval_s
        self._conn: Any = None
        if engine.dialect.name == "postgresql":
            raw = engine.raw_connection()
            try:
                raw.driver_connection.autocommit = True  # type: ignore[union-attr]
                raw.driver_connection.execute(f"LISTEN {NOTIFY_CHANNEL}")  # type: ignore[union-attr]
            except Exception:
                raw.invalidate()
                raise
            self._raw = raw
            self._conn = raw.driver_connection

    def wait(self) -> None:
        if self._conn is None:
            time.sleep(self._interval_s)
            return
        # Drain whatever arrived, or wait for one notification up to the interval.
        for _ in self._conn.notifies(timeout=self._interval_s, stop_after=1):
            pass

    def close(self) -> None:
        if self._conn is not None:
            # Invalidated, not returned: a LISTENing connection must not go back to the
            # pool, and after a lost connection there is nothing to return.
            self._raw.invalidate()
            self._conn = None


def prune_changes(engine: Engine, older_than: timedelta) -> int:
    """Delete changes created before ``now - older_than``; return how many."""
    with engine.begin() as conn:
        result = conn.execute(delete(Change).where(Change.created_at < utcnow() - older_than))
    return int(result.rowcount)


__all__ = ["ChangeRecord", "iter_changes", "prune_changes", "read_page"]
