"""The resources one process works with: its settings, engine, session factory and fetcher.

Usage::

    rt = get_resources()                  # a worker process's own (the tasks' ``self.resources``)
    rt = build_resources(settings)        # a CLI command's, a test's, an inline fetch's
    refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id)

``get_resources`` builds them lazily and per process id, because Celery's prefork pool forks
after import: a connection pool or socket inherited across fork would be shared by two
processes. It is where a worker process reads its settings (``get_settings``); everything it
calls is handed them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from models import RunKind, make_engine, session_factory
from worker import metrics
from worker.config import Settings, get_settings
from worker.fetch import Fetcher
from worker.runs import start_run


@dataclass
class Resources:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    fetcher: Fetcher
    _worker_run_id: int | None = None

    def worker_run_id(self) -> int:
        """The worker's run, which scheduled work is attributed to (a one-off fetch passes
        its own run id instead): the one the worker's main process opened before forking
        this one (``worker.lifecycle``), else one of this process's own, on first use."""
        if self._worker_run_id is None:
            self._worker_run_id = _inherited_run_id or start_run(self.sessions, RunKind.WORKER)
        return self._worker_run_id

    def close(self) -> None:
        self.fetcher.close()
        self.engine.dispose()


_resources: Resources | None = None
_pid: int | None = None
_inherited_run_id: int | None = None


def adopt_worker_run(run_id: int | None) -> None:
    """Attribute this process's work, and that of the processes it forks, to ``run_id``."""
    global _inherited_run_id
    _inherited_run_id = run_id


def build_resources(settings: Settings) -> Resources:
    """Resources for one process (tests and the inline runner build their own); the
    per-domain metrics of this process label the top hosts of its database."""
    metrics.label_top_domains(settings.sqlalchemy_url, settings.metrics_top_domains)
    engine = make_engine(settings.sqlalchemy_url)
    fetcher = Fetcher(settings)
    return Resources(settings, engine, session_factory(engine), fetcher)


def get_resources() -> Resources:
    """This process's resources, built on first use after (each) fork."""
    global _resources, _pid
    if _resources is None or _pid != os.getpid():
        _resources = build_resources(get_settings())
        _pid = os.getpid()
    return _resources
