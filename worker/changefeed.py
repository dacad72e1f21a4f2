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

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select

from models import Change, utcnow
from worker.store.changes import NOTIFY_CHANNEL

#: Rows fetched per query.
DEFAULT_PAGE_SIZE = 500
#: Seconds between polls when following without NOTIFY (SQLite) or as a NOTIFY fallback.
DEFAULT_POLL_INTERVAL_S = 1.0


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
    """Every change after ``since``; with ``follow``, keep waiting for more (never returns)."""
    wanted = list(kinds or [])
    cursor = since
    waiter = _Waiter(engine, poll_interval_s) if follow else None
    try:
        while True:
            page = read_page(engine, cursor, kinds=wanted, limit=page_size)
            yield from page
            if page:
                cursor = page[-1].id
            if len(page) == page_size:
                continue
            if waiter is None:
                return
            waiter.wait()
    finally:
        if waiter is not None:
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
            self._raw = raw
            self._conn = raw.driver_connection
            self._conn.autocommit = True
            self._conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait(self) -> None:
        if self._conn is None:
            time.sleep(self._interval_s)
            return
        # Drain whatever arrived, or wait for one notification up to the interval.
        for _ in self._conn.notifies(timeout=self._interval_s, stop_after=1):
            pass

    def close(self) -> None:
        if self._conn is not None:
            self._raw.close()


def prune_changes(engine: Engine, older_than: timedelta) -> int:
    """Delete changes created before ``now - older_than``; return how many."""
    with engine.begin() as conn:
        result = conn.execute(delete(Change).where(Change.created_at < utcnow() - older_than))
    return int(result.rowcount)


__all__ = ["ChangeRecord", "iter_changes", "prune_changes", "read_page"]
