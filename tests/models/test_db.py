"""models/db.py on PostgreSQL: a pooled connection is pinged only after sitting idle."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from models import db, make_engine


def _count_pings(engine: Engine) -> list[int]:
    pings = [0]
    real = engine.dialect.do_ping

    def counting(dbapi_conn: Any) -> bool:
        pings[0] += 1
        return bool(real(dbapi_conn))

    engine.dialect.do_ping = counting  # type: ignore[method-assign]
    return pings


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    other = make_engine(url)
    try:
        with other.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.commit()
    finally:
        other.dispose()


def test_busy_connection_is_not_pinged(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Busy: however long a loaded machine pauses between two checkouts, not idle.
    monkeypatch.setattr(db, "DEFAULT_PING_IDLE_S", 3600.0)
    engine = make_engine(pg_url, pool_size=1)
    pings = _count_pings(engine)
    try:
        for _ in range(5):
            _backend_pid(engine)
        assert pings[0] == 0
    finally:
        engine.dispose()


def test_idle_connection_dropped_by_the_server_is_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "DEFAULT_PING_IDLE_S", 0.0)  # every checkout counts as idle
    engine = make_engine(pg_url, pool_size=1)
    pings = _count_pings(engine)
    try:
        first = _backend_pid(engine)
        _terminate(pg_url, first)
        # The ping at checkout finds the connection gone; the pool hands out a new one.
        assert _backend_pid(engine) != first
        assert pings[0] >= 1
    finally:
        engine.dispose()


def test_busy_connection_dropped_by_the_server_fails_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not idle: no ping, so the first statement fails (the task retries), and the pool is
    # invalidated: the next checkout connects again.
    monkeypatch.setattr(db, "DEFAULT_PING_IDLE_S", 3600.0)
    engine = make_engine(pg_url, pool_size=1)
    try:
        first = _backend_pid(engine)
        _terminate(pg_url, first)
        with pytest.raises(OperationalError):
            _backend_pid(engine)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


def test_pool_pre_ping_still_available(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=1, pool_pre_ping=True)
    try:
        first = _backend_pid(engine)
        _terminate(pg_url, first)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
