"""``storywire status``: one screen of what a deployment is doing, as a plain dict.

Usage::

    snapshot = take_snapshot(settings)      # JSON-ready; the CLI prints it or lays it out
    snapshot["feeds"]["due_now"], snapshot["queues"]["articles"], snapshot["changes"]["head_id"]

Every part is read on its own: the broker being down leaves ``queues`` as
``{"error": "..."}`` and the rest of the screen intact.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from models import FeedStatus, RunKind, utcnow
from worker.config import Settings
from worker.heartbeat import worker_stale_before
from worker.monitoring import queries

#: Newest runs shown.
DEFAULT_RUNS_SHOWN = 5


def take_snapshot(settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    engine = queries.read_engine(settings.sqlalchemy_url)
    try:
        return {
            "at": now,
            "database": queries.redacted(settings.sqlalchemy_url),
            "feeds": _part(lambda: _feeds(engine, now)),
            "queues": _part(lambda: queries.queue_depths(settings)),
            "articles": _part(lambda: _articles(engine, now)),
            "stories": _part(lambda: queries.recent_counts(engine, now)["stories"]),
            "changes": _part(lambda: _changes(engine, now)),
            "beat": _part(lambda: _beat(engine, now)),
            "workers": _part(lambda: _workers(engine, settings, now)),
            "runs": _part(lambda: queries.last_runs(engine, DEFAULT_RUNS_SHOWN)),
        }
    finally:
        engine.dispose()


def _part(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        return {"error": (lines[0] if lines else type(exc).__name__)[:300]}


def _feeds(engine: Any, now: datetime) -> dict[str, int]:
    by_status = queries.feeds_by_status(engine)
    due, overdue = queries.feeds_due(engine, now)
    return {
        "total": sum(by_status.values()),
        "ok": by_status.get(FeedStatus.ACTIVE, 0),
        "erroring": by_status.get(FeedStatus.ERRORING, 0),
        "gone": by_status.get(FeedStatus.GONE, 0),
        "disabled": by_status.get(FeedStatus.DISABLED, 0),
        "due_now": due,
        "overdue": overdue,
    }


def _articles(engine: Any, now: datetime) -> dict[str, Any]:
    recent = queries.recent_counts(engine, now)["articles"]
    return {**recent, "by_status": queries.articles_by_status(engine)}


def _changes(engine: Any, now: datetime) -> dict[str, Any]:
    head = queries.change_head(engine)
    if head is None:
        return {"head_id": 0, "head_at": None, "age_s": None}
    return {"head_id": head[0], "head_at": head[1], "age_s": _age(now, head[1])}


def _beat(engine: Any, now: datetime) -> dict[str, Any]:
    last = queries.last_heartbeat(engine, RunKind.BEAT)
    return {"last_tick_at": last, "age_s": _age(now, last) if last else None}


def _workers(engine: Any, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    alive = queries.alive_runs(engine, RunKind.WORKER, worker_stale_before(now, settings))
    return [
        {"run_id": r["id"], "host": r["host"], "pid": r["pid"], "heartbeat_at": r["heartbeat_at"]}
        for r in alive
    ]


def _age(now: datetime, then: datetime) -> float:
    return round(max(0.0, (now - then).total_seconds()), 1)
