"""The cheap reads behind metrics, health and status: each one an indexed query or a LLEN.

Usage::

    engine = read_engine(settings.sqlalchemy_url)
    feeds_due(engine, utcnow())                  # (due now, overdue)
    change_head(engine)                          # (id, created_at) of the newest change
    queue_depths(settings)                       # {"feeds": 3, "articles": 120, ...}
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, func, select
from sqlalchemy.engine import make_url

from models import Article, Change, Feed, FeedStatus, Run, RunStatus, Story, make_read_engine
from worker.celery_app import QUEUES
from worker.config import Settings

#: A due feed not dispatched for this long means beat or dispatch is not keeping up.
DEFAULT_OVERDUE_AFTER_S = 300.0
#: Seconds a probe of the database or the broker may take before it counts as down.
DEFAULT_PROBE_TIMEOUT_S = 5.0
#: Priority sub-queues kombu's Redis transport keeps beside each queue (its default steps).
_REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
_POLLED = (FeedStatus.ACTIVE, FeedStatus.ERRORING)


def read_engine(url: str) -> Engine:
    """An engine for the probes: short reads, the connect timeout bounded."""
    return make_read_engine(url, connect_timeout_s=DEFAULT_PROBE_TIMEOUT_S)


def feeds_due(engine: Engine, now: datetime) -> tuple[int, int]:
    """Polled feeds due now, and those due for longer than ``DEFAULT_OVERDUE_AFTER_S``."""
    overdue_before = now - timedelta(seconds=DEFAULT_OVERDUE_AFTER_S)
    query = select(
        func.count(),
        func.sum(case((Feed.next_check_at <= overdue_before, 1), else_=0)),
    ).where(Feed.status.in_(_POLLED), Feed.next_check_at <= now)
    with engine.connect() as conn:
        due, overdue = conn.execute(query).one()
    return int(due or 0), int(overdue or 0)


def feeds_by_status(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(Feed.status, func.count()).group_by(Feed.status)).all()
    return {str(status): int(count) for status, count in rows}


def articles_by_status(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(Article.status, func.count()).group_by(Article.status)).all()
    return {str(status): int(count) for status, count in rows}


def change_head(engine: Engine) -> tuple[int, datetime] | None:
    """Id and time of the newest change, or None when there is none."""
    query = select(Change.id, Change.created_at).order_by(Change.id.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return (int(row[0]), row[1]) if row else None


def recent_counts(engine: Engine, now: datetime) -> dict[str, dict[str, int]]:
    """Articles discovered and stories opened in the last hour and the last day."""
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    result: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for name, column in (("articles", Article.discovered_at), ("stories", Story.created_at)):
            last_hour, last_day = conn.execute(
                select(func.sum(case((column >= hour, 1), else_=0)), func.count()).where(
                    column >= day
                )
            ).one()
            result[name] = {"last_hour": int(last_hour or 0), "last_day": int(last_day or 0)}
    return result


def alive_runs(
    engine: Engine, kind: str, since: datetime, *, host: str | None = None
) -> list[dict[str, Any]]:
    """Runs of ``kind`` still running whose last heartbeat is at or after ``since`` (on
    ``host`` only, when given)."""
    query = (
        select(*_RUN)
        .where(Run.kind == kind, Run.status == RunStatus.RUNNING, Run.heartbeat_at >= since)
        .order_by(Run.heartbeat_at.desc())
    )
    if host is not None:
        query = query.where(Run.host == host)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def last_heartbeat(engine: Engine, kind: str, *, host: str | None = None) -> datetime | None:
    query = select(func.max(Run.heartbeat_at)).where(Run.kind == kind)
    if host is not None:
        query = query.where(Run.host == host)
    with engine.connect() as conn:
        value: datetime | None = conn.execute(query).scalar_one_or_none()
    return value


def last_runs(engine: Engine, limit: int) -> list[dict[str, Any]]:
    query = select(*_RUN).order_by(Run.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


_RUN = (Run.id, Run.kind, Run.status, Run.started_at, Run.finished_at, Run.host, Run.pid,
        Run.heartbeat_at)  # fmt: skip


# --- the broker ------------------------------------------------------------------------


def queue_depths(settings: Settings) -> dict[str, int]:
    """Messages waiting in each queue (not those a worker has taken)."""
    if settings.redis_url:
        return _redis_depths(settings.redis_url)
    return _sqlite_depths(settings.data_dir / "broker.db")


def ping_broker(settings: Settings) -> str:
    """Raise if the broker cannot be reached; say what was reached."""
    if settings.redis_url:
        client = _redis(settings.redis_url)
        try:
            client.ping()
        finally:
            client.close()
        return redacted(settings.redis_url)
    path = settings.data_dir / "broker.db"
    if path.exists():
        _sqlite_depths(path)  # readable, and a kombu database
    elif not _writable_dir(settings.data_dir):
        raise OSError(f"{settings.data_dir} is not a writable directory")
    return f"embedded SQLite broker {path}"


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(
        url, socket_timeout=DEFAULT_PROBE_TIMEOUT_S, socket_connect_timeout=DEFAULT_PROBE_TIMEOUT_S
    )


def _redis_depths(url: str) -> dict[str, int]:
    client = _redis(url)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in QUEUES:
            for suffix in _REDIS_PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        lengths = pipe.execute()
    finally:
        client.close()
    steps = len(_REDIS_PRIORITY_SUFFIXES)
    return {q: sum(lengths[i * steps : (i + 1) * steps]) for i, q in enumerate(QUEUES)}


def _sqlite_depths(path: Path) -> dict[str, int]:
    depths = dict.fromkeys(QUEUES, 0)
    if not path.exists():
        return depths  # no worker has started yet: nothing queued
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=DEFAULT_PROBE_TIMEOUT_S)
    try:
        rows = conn.execute(
            "SELECT q.name, COUNT(m.id) FROM kombu_queue q "
            "LEFT JOIN kombu_message m ON m.queue_id = q.id AND m.visible "
            "GROUP BY q.name"
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return depths  # the broker file exists, its tables not yet
        raise
    finally:
        conn.close()
    depths.update({str(name): int(count) for name, count in rows if name in depths})
    return depths


def _writable_dir(path: Path) -> bool:
    probe = path if path.exists() else path.parent
    return probe.is_dir() and os.access(probe, os.W_OK)


def redacted(url: str) -> str:
    """A URL without its password, for output."""
    return make_url(url).render_as_string(hide_password=True) if "://" in url else url
