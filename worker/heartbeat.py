"""A run's sign of life: ``runs.heartbeat_at``, stamped by the process running it, and read
by the sweeper (a run whose stamps stopped is ``lost``) and by ``storywire health``.

Usage::

    with Heartbeat(url, run_id, every_s=30):     # a worker, an inline fetch: from a thread
        ...
    heartbeat = Heartbeat(url, run_id)           # the beat: one stamp at each of its ticks
    heartbeat.stamp()                            # False once the run is closed
    alive_since = worker_stale_before(utcnow(), settings)   # older stamps: dead workers

One mechanism for every kind of run. A worker's main process stamps from a thread, alive
even while every pool process is busy with a long task; the beat stamps each time it sends
``dispatch_due_feeds``, so its stamp's age is the age of the scheduler's last tick
(``worker.lifecycle``). A stamp older than ``STALE_AFTER_INTERVALS`` intervals is a dead
process.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from models import Run, RunStatus, make_engine, session_factory, session_scope, utcnow
from worker.config import Settings

log = logging.getLogger(__name__)

#: A process whose stamp is older than this many of its intervals is taken for dead.
STALE_AFTER_INTERVALS = 3

# A fork while a stamp is inside the database driver hands the child a copy of a lock held
# by a thread that does not exist there (SQLite's own mutexes): the child's first query waits
# forever. The worker forks its pool processes while its heartbeat thread runs, so a fork
# waits for the stamp in progress to end (docs/runtime.md, Runs).
_STAMPING = threading.Lock()
_forks_wait_for_stamps = False
_registering = threading.Lock()


class Heartbeat:
    """Stamps a run's ``heartbeat_at``: from a daemon thread every ``every_s`` until stopped
    (``start``/``stop``, or as a ``with`` block), or at each call of :meth:`stamp`.

    It has its own engine without a pool: no connection is held between stamps, so a process
    that forks meanwhile (the worker starting its pool) shares none. A stamp that fails (the
    database restarting) is logged by the thread, and the next one is tried.
    """

    def __init__(self, database_url: str, run_id: int, *, every_s: float | None = None) -> None:
        self.run_id = run_id
        self._every_s = every_s
        self._engine = make_engine(database_url, poolclass=NullPool)
        self._sessions = session_factory(self._engine)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"run-{run_id}", daemon=True)

    @property
    def sessions(self) -> sessionmaker[Session]:
        """Sessions on the heartbeat's own engine (no pool), e.g. to close its run."""
        return self._sessions

    def stamp(self) -> bool:
        """Stamp the run now; False if it is closed (it stays closed: a run the sweeper
        declared lost is not revived)."""
        # No fork meanwhile (see above).
        with _STAMPING, session_scope(self._sessions) as session:
            done = session.execute(
                update(Run)
                .where(Run.id == self.run_id, Run.status == RunStatus.RUNNING)
                .values(heartbeat_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def start(self) -> Heartbeat:
        if self._every_s is None:
            raise ValueError("a heartbeat stamped from a thread needs every_s")
        _make_forks_wait_for_stamps()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join((self._every_s or 0) + 5)
        self._engine.dispose()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        assert self._every_s is not None
        while not self._stop.wait(self._every_s):
            try:
                self.stamp()
            except SQLAlchemyError as exc:
                log.warning("run %s: heartbeat failed: %s", self.run_id, exc)


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


def _make_forks_wait_for_stamps() -> None:
    # Registered with the first heartbeat thread, where the hazard starts, not at import: a
    # process that never stamps from a thread keeps its forks as they were.
    # (Once only: two registrations would acquire the lock twice at each fork.)
    global _forks_wait_for_stamps
    with _registering:
        if not _forks_wait_for_stamps:
            os.register_at_fork(
                before=_STAMPING.acquire,
                after_in_parent=_STAMPING.release,
                after_in_child=_STAMPING.release,
            )
            _forks_wait_for_stamps = True
