"""models/db.py on SQLite: every transaction takes the write lock up front, waiting for it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from models import db, make_engine, read_only, read_scope, session_factory, session_scope

# Far beyond the poll interval: the waiting writer's BEGIN fails inside many times over.
HOLD_S = 0.5


def test_a_writer_waits_for_the_lock_past_the_poll_interval(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            release.wait(timeout=60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(timeout=60)
    threading.Timer(HOLD_S, release.set).start()
    with engine.begin() as conn:  # waits for the holder's commit, then writes
        conn.execute(text("INSERT INTO t VALUES (2)"))
        # SQLite's own wait is back to the long one for the rest of the transaction.
        timeout = conn.execute(text("PRAGMA busy_timeout")).scalar_one()
        assert timeout == db.DEFAULT_SQLITE_BUSY_TIMEOUT_MS
    holder.join(timeout=60)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]
    engine.dispose()


def test_a_writer_gives_up_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "DEFAULT_SQLITE_BUSY_TIMEOUT_MS", 200)
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    holder = engine.connect()
    holder.begin()  # holds the write lock until closed
    try:
        with pytest.raises(OperationalError, match="locked"), engine.begin():
            pass
    finally:
        holder.close()
        engine.dispose()


def test_a_read_scope_reads_beside_a_writer_holding_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short busy timeout: a read that queued for the lock would fail with "locked".
    monkeypatch.setattr(db, "DEFAULT_SQLITE_BUSY_TIMEOUT_MS", 200)
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    sessions = session_factory(engine)
    holder = engine.connect()
    holder.begin()  # a writer in the middle of its transaction: holds the write lock
    holder.execute(text("INSERT INTO t VALUES (2)"))
    try:
        with read_scope(sessions) as session:  # the last committed state, at once
            assert session.execute(text("SELECT n FROM t")).scalars().all() == [1]
        with engine.connect() as conn:
            assert read_only(conn).execute(text("SELECT count(*) FROM t")).scalar_one() == 1
        with pytest.raises(OperationalError, match="locked"), session_scope(sessions) as s:
            s.execute(text("SELECT n FROM t"))  # an ordinary transaction queues for the lock
    finally:
        holder.close()
        engine.dispose()
