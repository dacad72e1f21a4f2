"""The worker's run: opened when the worker starts, kept alive by a heartbeat, closed when it
stops.

Connected to Celery's signals in the worker's main process (``worker.celery_app`` imports
this module): ``worker_init`` opens a ``worker`` run before the pool processes are forked, so
they all attribute their work to it, and starts its heartbeat; ``worker_shutdown``, after the
pool has stopped, closes it with the counts of the articles it discovered. A worker killed
with -9 closes nothing: its heartbeat stops, and the sweeper marks its run ``lost``.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from models import RunKind, make_engine, session_factory, session_scope
from worker.config import get_settings
from worker.resources import adopt_worker_run
from worker.runs import Heartbeat, article_counts, finish_run, start_run

log = logging.getLogger(__name__)

_heartbeat: Heartbeat | None = None


def open_worker_run(sender: Any = None, **_kwargs: object) -> None:
    global _heartbeat
    settings = get_settings()
    engine = make_engine(settings.sqlalchemy_url, poolclass=NullPool)  # nothing held at fork
    try:
        run_id = start_run(
            session_factory(engine),
            RunKind.WORKER,
            args={"hostname": getattr(sender, "hostname", None)},
            beating=True,
        )
    except SQLAlchemyError as exc:
        # Not migrated yet, or the database is down: each pool process opens its own later.
        log.warning("could not open the worker's run: %s", exc)
        return
    finally:
        engine.dispose()
    adopt_worker_run(run_id)
    _heartbeat = Heartbeat(settings.sqlalchemy_url, run_id, every_s=settings.run_heartbeat_s)
    _heartbeat.start()
    log.info("worker run %s opened", run_id)


def close_worker_run(**_kwargs: object) -> None:
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


signals.worker_init.connect(open_worker_run)
signals.worker_shutdown.connect(close_worker_run)
