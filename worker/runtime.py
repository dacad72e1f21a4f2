"""Per-process resources: engine, session factory, HTTP fetcher.

Created lazily and keyed by process id, because Celery's prefork pool forks after import: a
connection pool or socket inherited across fork would be shared by two processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from models import RunKind, make_engine, session_factory
from worker.config import Settings, get_settings
from worker.fetch import Fetcher
from worker.runs import start_run


@dataclass
class Runtime:
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


_runtime: Runtime | None = None
_pid: int | None = None
_inherited_run_id: int | None = None


def adopt_worker_run(run_id: int | None) -> None:
    """Attribute this process's work, and that of the processes it forks, to ``run_id``."""
    global _inherited_run_id
    _inherited_run_id = run_id


def build_runtime(settings: Settings) -> Runtime:
    """Resources for one process (tests and the inline runner build their own)."""
    engine = make_engine(settings.sqlalchemy_url)
    fetcher = Fetcher(settings)
    return Runtime(settings, engine, session_factory(engine), fetcher)


def get_runtime() -> Runtime:
    """This process's runtime, built on first use after (each) fork."""
    global _runtime, _pid
    if _runtime is None or _pid != os.getpid():
        _runtime = build_runtime(get_settings())
        _pid = os.getpid()
    return _runtime
