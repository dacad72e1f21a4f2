"""Heartbeats: how `storywire health` knows that a worker and the beat are alive.

Usage (the CLI does this before it starts Celery)::

    install_worker_hooks()           # storywire run / worker
    install_beat_hooks(settings)     # storywire run / beat

A worker's main process owns a ``runs`` row of kind ``worker`` and stamps its
``heartbeat_at`` every ``STORYWIRE_RUN_HEARTBEAT_S`` from a thread (``worker.lifecycle``;
alive even while every pool child is busy with a long task); a clean shutdown finishes the
run. The beat
stamps its own run (kind ``beat``) each time it sends ``dispatch_due_feeds``: the stamp's age
is the age of the scheduler's last tick. A stamp older than a few intervals is a dead process.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlalchemy.pool import NullPool

from models import Run, RunKind, make_engine, session_factory, utcnow
from worker.config import Settings
from worker.monitoring import metrics
from worker.runs import start_run

log = logging.getLogger(__name__)

#: A worker whose stamp is older than this many intervals is taken for dead.
STALE_AFTER_INTERVALS = 3
#: Task whose sending is the beat's tick.
TICK_TASK = "worker.tasks.dispatch_due_feeds"


def worker_stale_window_s(settings: Settings) -> float:
    """A worker whose heartbeat is older than this is taken for dead."""
    return settings.run_heartbeat_s * STALE_AFTER_INTERVALS


def worker_stale_before(now: datetime, settings: Settings) -> datetime:
    """Heartbeats older than this are dead workers."""
    return now - timedelta(seconds=worker_stale_window_s(settings))


def beat_stale_before(now: datetime, settings: Settings) -> datetime:
    """A last tick older than this means the beat is dead (a few of its intervals, and never
    less than a worker's margin, so a slow tick is not a death)."""
    interval = max(settings.dispatch_interval_s, settings.run_heartbeat_s)
    return now - timedelta(seconds=interval * STALE_AFTER_INTERVALS)


def stamp(engine: Engine, run_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=utcnow()))


class BeatTicks:
    """The beat process's run, stamped at every tick (created on the first one)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pid: int | None = None
        self._engine: Engine | None = None
        self._run_id: int | None = None

    def tick(self) -> None:
        try:
            if self._pid != os.getpid():  # the embedded beat is a forked child
                self._pid = os.getpid()
                self._engine = _engine(self._settings)
                self._run_id = start_run(session_factory(self._engine), RunKind.BEAT)
            assert self._engine is not None
            assert self._run_id is not None
            stamp(self._engine, self._run_id)
        except Exception as exc:
            self._pid = None  # start over next tick
            log.warning("beat tick not recorded: %s", exc)


def _engine(settings: Settings) -> Engine:
    # No pool: one connection per stamp (every 30 s). A pooled connection of the worker's
    # main process would be inherited by every pool child forked later, and closed by it.
    return make_engine(settings.sqlalchemy_url, poolclass=NullPool)


def install_worker_hooks() -> None:
    """Metrics bookkeeping of the worker's pool children (the worker's run and its heartbeat
    are ``worker.lifecycle``'s)."""
    from celery import signals

    def on_child_exit(pid: int | None = None, **_: object) -> None:
        metrics.mark_process_dead(pid or os.getpid())

    # weak=False: the receivers are closures that nothing else keeps alive.
    signals.worker_process_shutdown.connect(on_child_exit, weak=False)


def install_beat_hooks(settings: Settings) -> None:
    from celery import signals

    ticks = BeatTicks(settings)

    def on_publish(sender: str | None = None, **_: object) -> None:
        if sender == TICK_TASK:
            ticks.tick()

    signals.after_task_publish.connect(on_publish, weak=False)
