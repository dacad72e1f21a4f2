"""What Storywire's Celery processes do when they start and stop (Celery's signals).

The worker's main process (``worker_init``, before it forks its pool): loads what
extraction's first pages would wait for (date languages, stop lists, the public suffix list)
once for every child, and opens the worker's run (kind ``worker``) that
all its processes attribute their work to, with a heartbeat thread; at ``worker_shutdown``,
after the pool has stopped, it closes the run with the counts of the articles it discovered.
A worker killed with -9 closes nothing: its heartbeat stops, and the sweeper marks its run
``lost``.

Each pool process (``worker_process_init``): freezes the objects it starts with out of the
garbage collector's sight and leaves SIGTERM to the main process; when one exits
(``worker_process_shutdown``), its live metrics are forgotten.

The beat process (:func:`track_beat_ticks`, called by ``storywire run`` and ``storywire
beat``): its run (kind ``beat``) is stamped each time it sends ``dispatch_due_feeds``, so the
stamp's age is the age of the scheduler's last tick, and finished when the beat stops cleanly.

The receivers are connected when this module is imported (``worker.celery_app`` imports it):
a connection is a declaration, none of them runs before its signal is sent.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing.util
import os
import signal
from collections.abc import Callable
from typing import Any

from celery import signals
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from models import RunKind, make_engine, session_factory, session_scope
from worker import metrics
from worker.config import Settings, get_settings
from worker.extract import warm_up
from worker.heartbeat import Heartbeat
from worker.resources import adopt_worker_run
from worker.runs import article_counts, finish_run, start_run

log = logging.getLogger(__name__)

#: The task whose sending is the beat's tick.
TICK_TASK = "worker.tasks.dispatch_due_feeds"

_heartbeat: Heartbeat | None = None


def open_worker_run(sender: Any = None, **_kwargs: object) -> None:
    """``worker_init``: open the worker's run, before the pool processes are forked."""
    global _heartbeat
    settings = get_settings()
    args = {"hostname": getattr(sender, "hostname", None)}
    try:
        run_id = _start_run(settings, RunKind.WORKER, args)
    except SQLAlchemyError as exc:
        # Not migrated yet, or the database is down: each pool process opens its own later.
        log.warning("could not open the worker's run: %s", exc)
        return
    adopt_worker_run(run_id)
    _heartbeat = Heartbeat(settings.sqlalchemy_url, run_id, every_s=settings.run_heartbeat_s)
    _heartbeat.start()
    log.info("worker run %s opened", run_id)


def close_worker_run(**_kwargs: object) -> None:
    """``worker_shutdown``: the pool has stopped; finish the run with its figures."""
    global _heartbeat
    if _heartbeat is None:
        return
    heartbeat, _heartbeat = _heartbeat, None
    heartbeat.stop()
    engine = make_engine(get_settings().sqlalchemy_url, poolclass=NullPool)
    sessions = session_factory(engine)
    try:
        with session_scope(sessions) as session:
            counts = article_counts(session, heartbeat.run_id)
        finish_run(sessions, heartbeat.run_id, stats={"articles": counts})
        log.info("worker run %s finished", heartbeat.run_id)
    except SQLAlchemyError as exc:
        log.warning("could not close the worker's run %s: %s", heartbeat.run_id, exc)
    finally:
        engine.dispose()


def warm_up_extraction(**_kwargs: object) -> None:
    """``worker_init``: what extraction loads on first use (the date parser's language data,
    jusText's stop lists, the public suffix list) is loaded once, in the main process, and
    shared by every child instead of loaded by each on its first pages."""
    warm_up()


def freeze_startup_objects(**_kwargs: object) -> None:
    """``worker_process_init``: move the objects a worker process starts with (modules,
    classes, the ORM's mappings: ~180k, inherited from the parent at fork) out of the
    garbage collector's sight.

    Why: they live as long as the process, yet every full collection walks them all, a pause
    of the story step many times longer than one article's (figures: docs/stories.md, garbage
    collection). No ``gc.collect()`` first: in a forked child it would write to every
    inherited object's header and unshare their memory pages."""
    gc.freeze()


def leave_sigterm_to_the_main_process(**_kwargs: object) -> None:
    """``worker_process_init``: pool processes ignore SIGTERM; stopping is the main
    process's job.

    Why: systemd, ``timeout`` and ``docker stop`` signal the whole process group. A pool
    process killed by that SIGTERM while it waited for work held the pool's queue lock, and
    the main process, in its warm shutdown, then waited for that lock forever. Ignoring it,
    a pool process finishes its task and exits when the main process closes the pool (its
    hard time limit still kills it: SIGKILL follows the SIGTERM)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def forget_exited_process(pid: int | None = None, **_kwargs: object) -> None:
    """``worker_process_shutdown``: a pool process's live gauges go with it (its counters
    keep counting in the totals)."""
    metrics.mark_process_dead(pid or os.getpid())


def track_beat_ticks(settings: Settings) -> None:
    """In the beat process, before it starts: stamp its run at every tick."""
    ticks = BeatRun(settings, close_at_exit=True)

    def on_publish(sender: str | None = None, **_: object) -> None:
        if sender == TICK_TASK:
            ticks.tick()

    # weak=False: the receiver is a closure that nothing else keeps alive.
    signals.after_task_publish.connect(on_publish, weak=False)


class BeatRun:
    """The beat process's run: opened at the first tick (the beat embedded in ``storywire
    run`` is a forked child), stamped at every tick, opened anew should the sweeper have
    closed it meanwhile (a beat paused for longer than ``STORYWIRE_RUN_LOST_AFTER_S``), and
    closed (``finished``) when the beat stops cleanly (SIGTERM, SIGINT, the worker that
    embeds it stopping). A beat killed with -9 closes nothing: the sweeper marks it lost."""

    def __init__(self, settings: Settings, *, close_at_exit: bool = False) -> None:
        """``close_at_exit``: this process is the beat (``track_beat_ticks``), so its exit
        closes the run; elsewhere (a test ticking it) the caller calls :meth:`close`."""
        self._settings = settings
        self._close_at_exit = close_at_exit
        self._pid: int | None = None
        self._heartbeat: Heartbeat | None = None

    def tick(self) -> None:
        try:
            if self._heartbeat is None or self._pid != os.getpid():
                self._open()
            assert self._heartbeat is not None
            if not self._heartbeat.stamp():  # closed: lost while the beat was stopped
                self._open()
        except Exception as exc:  # never the beat's problem: the next tick tries again
            log.warning("beat tick not recorded: %s", exc)

    def close(self) -> None:
        """Close this process's run, if it has one (at its exit)."""
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is None or self._pid != os.getpid():
            return
        try:
            finish_run(heartbeat.sessions, heartbeat.run_id)
            log.info("beat run %s finished", heartbeat.run_id)
        except SQLAlchemyError as exc:  # the sweeper marks it lost instead
            log.warning("could not close the beat's run %s: %s", heartbeat.run_id, exc)
        finally:
            heartbeat.stop()

    def _open(self) -> None:
        first = self._pid != os.getpid()
        run_id = _start_run(self._settings, RunKind.BEAT, {})
        self._pid = os.getpid()
        self._heartbeat = Heartbeat(self._settings.sqlalchemy_url, run_id)
        if first and self._close_at_exit:
            _close_at_exit(self.close)


def _close_at_exit(close: Callable[[], None]) -> None:
    """Run ``close`` when this process ends cleanly.

    Why multiprocessing's finalizers rather than ``atexit``: the beat embedded in a worker
    is a multiprocessing child, which leaves by ``os._exit`` after running them (``atexit``
    handlers never run there); a standalone beat runs them at interpreter exit too. And why
    SIGTERM is turned into ``SystemExit`` where nobody handles it: the embedded beat resets
    its signals to the defaults, so SIGTERM (from the worker stopping it, or a service
    manager signalling the process group) would kill it before any cleanup; beat's loop
    takes ``SystemExit`` as its cue to stop. (A standalone beat already has such a handler.)
    """
    multiprocessing.util.Finalize(None, close, exitpriority=10)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        with contextlib.suppress(ValueError):  # not the main thread: leave it as it is
            signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _start_run(settings: Settings, kind: RunKind, args: dict[str, Any]) -> int:
    # No pool: a pooled connection of this main process would be inherited by every pool
    # child forked later, and closed by it.
    engine = make_engine(settings.sqlalchemy_url, poolclass=NullPool)
    try:
        return start_run(session_factory(engine), kind, args=args, beating=True)
    finally:
        engine.dispose()


signals.worker_init.connect(open_worker_run)
signals.worker_init.connect(warm_up_extraction)
signals.worker_process_init.connect(freeze_startup_objects)
signals.worker_process_init.connect(leave_sigterm_to_the_main_process)
signals.worker_process_shutdown.connect(forget_exited_process)
signals.worker_shutdown.connect(close_worker_run)
