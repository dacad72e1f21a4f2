"""Engine and session factory.

Usage::

    engine = make_engine("sqlite:///storywire.db")
    with session_scope(session_factory(engine)) as session:
        session.add(...)
    # committed here, rolled back on exception
    in_batches(sessions, delete_some, batch=500)          # one transaction per batch
    probe = make_read_engine(url, connect_timeout_s=5)    # short reads beside the writers
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection

#: How long a SQLite writer waits for the lock held by another process before failing.
DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 30_000
#: A writer waiting for that lock tries again this often (SQLite's own wait backs off to 100 ms
#: sleeps, so a waiter would wake long after a transaction of a few hundred ms ended).
DEFAULT_SQLITE_LOCK_POLL_MS = 5
#: A pooled server connection idle longer than this is pinged before it is handed out.
DEFAULT_PING_IDLE_S = 10.0


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with Storywire's connection settings for the URL's dialect."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, DEFAULT_PING_IDLE_S)
    return engine


def make_read_engine(url: str, *, connect_timeout_s: float) -> Engine:
    """An engine for short reads beside the writers (health probes, the metrics' top hosts):
    no pool kept, the connect timeout bounded, and on SQLite no ``BEGIN IMMEDIATE`` (the
    write lock ``make_engine`` takes for every transaction: a read must not queue behind the
    writers)."""
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        connect_args["timeout"] = connect_timeout_s
    elif parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = int(connect_timeout_s)
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection at checkout only when it sat idle for ``idle_s`` or more.

    ``pool_pre_ping`` pings at every checkout: a round trip per transaction, the cost of a
    statement on the story step. A busy worker's connections are never idle that long, and a
    connection the server dropped meanwhile (restart, failover) fails its first statement
    instead: SQLAlchemy sees the disconnect and invalidates the pool, and the task retries
    (``StorywireTask.autoretry_for``). An idle worker's connections are still checked first.
    """

    def on_checkin(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info["storywire_idle_since"] = time.monotonic()

    def on_checkout(
        dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        since = record.info.get("storywire_idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return  # just connected, or just used
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and checks out another (a new one).
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc

    event.listen(engine, "checkin", on_checkin)
    event.listen(engine, "checkout", on_checkout)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Several worker processes share one file: WAL lets readers run beside the writer, the
    # busy timeout makes writers queue instead of failing with "database is locked".
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_on_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={DEFAULT_SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    if conn.get_execution_options().get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN")  # read_scope: a WAL snapshot, no write lock
        return
    # BEGIN IMMEDIATE takes the write lock up front, so two read-then-write transactions
    # cannot deadlock on lock upgrade (SQLite would fail one of them without waiting).
    raw = conn.connection.driver_connection
    raw.execute(f"PRAGMA busy_timeout={DEFAULT_SQLITE_LOCK_POLL_MS}")
    deadline = time.monotonic() + DEFAULT_SQLITE_BUSY_TIMEOUT_MS / 1000
    try:
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if "locked" not in str(exc.orig) or time.monotonic() >= deadline:
                    raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={DEFAULT_SQLITE_BUSY_TIMEOUT_MS}")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


#: The execution option of ``read_scope``'s connections.
_READ_ONLY = "storywire_read_only"


@contextmanager
def read_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that only reads (``session_scope`` is for writes); its transaction is rolled
    back at the end.

    On SQLite it begins with a plain ``BEGIN``: a snapshot of the WAL that neither takes nor
    waits for the write lock every other transaction takes up front (``BEGIN IMMEDIATE``), so
    a read does not queue behind a story step's transaction. It must not write (SQLite may
    refuse to turn it into a write transaction). On Postgres it is an ordinary session."""
    session = factory()
    try:
        session.connection(execution_options={_READ_ONLY: True})
        yield session
    finally:
        session.close()


def read_only(conn: Connection) -> Connection:
    """``read_scope`` for a Core connection, before its first statement."""
    return conn.execution_options(**{_READ_ONLY: True})


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def in_batches(
    sessions: sessionmaker[Session],
    step: Callable[[Session], int],
    *,
    batch: int,
    max_batches: int | None = None,
) -> int:
    """Run ``step`` (one batch: returns how many rows it did, at most ``batch``) in a
    transaction of its own, again until a batch comes back short or ``max_batches`` ran
    (None: no cap); how many rows in all.

    Each batch commits before the next starts: a backlog (a retention just switched on, a
    first pruning of a big store) is worked off without one long transaction, and a run
    stopped halfway keeps what it did."""
    done = batches = 0
    while max_batches is None or batches < max_batches:
        with session_scope(sessions) as session:
            count = step(session)
        done += count
        batches += 1
        if count < batch:
            break
    return done
