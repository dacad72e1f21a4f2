"""The embedded broker: kombu's SQLAlchemy transport on a SQLite file, safe to start from
several processes at once.

Usage::

    broker_url = embedded_broker_url(data_dir / "broker.db")   # "storywire-sqla+sqlite:///…"
    transport_options = {"creator": functools.partial(connect, data_dir / "broker.db")}

kombu's transport creates its tables and each queue's row on first use, guarded by a lock
that only serializes the threads of one process. A worker and a beat started together (a
Procfile under honcho, ``docker-compose up``) both find a queue missing and both insert
it: the second failed with ``UNIQUE constraint failed: kombu_queue.name`` (or, earlier, with
``table kombu_queue already exists``) and its process died. Here the loser of either race
takes what the winner created.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as SQLAlchemyChannel
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport
from sqlalchemy.exc import IntegrityError, OperationalError

#: How often the embedded broker is polled for new messages (kombu's default, once a second,
#: caps a worker at about one task per second per queue).
DEFAULT_POLL_S = 0.1
#: How long a process waits for another one holding the embedded broker's file lock.
DEFAULT_BUSY_TIMEOUT_S = 30.0
#: The transport's name in broker URLs.
TRANSPORT_NAME = "storywire-sqla"
# Tables and indexes kombu creates: a process losing every race still gets through.
_CREATE_ATTEMPTS = 8


class Channel(SQLAlchemyChannel):
    def _open(self) -> Any:
        for _ in range(_CREATE_ATTEMPTS - 1):
            try:
                return super()._open()  # type: ignore[no-untyped-call]
            except OperationalError as exc:
                if "already exists" not in str(exc):
                    raise
                # Another process created a table between our check and our CREATE: the
                # next check sees it (each try gets further, there are only so many).
        return super()._open()  # type: ignore[no-untyped-call]

    def _get_or_create(self, queue: str) -> Any:
        try:
            return super()._get_or_create(queue)  # type: ignore[no-untyped-call]
        except IntegrityError:
            # Another process inserted this queue between our read and our insert: theirs.
            self.session.rollback()
            found = self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).first()
            if found is None:
                raise
            return found


class Transport(SQLAlchemyTransport):
    Channel = Channel
    # kombu hands every transport option to create_engine (which rejects
    # "polling_interval"), so the interval is set on the class.
    polling_interval = DEFAULT_POLL_S


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the embedded broker's file, for kombu's SQLAlchemy transport.

    Why: kombu opens it with SQLite's defaults, a rollback journal synced to disk at every
    commit, in which each poll (a write transaction) and each publish wait for one another
    and for the disk (docs/throughput.md has the cost). In WAL mode, synced at checkpoints
    only (a message lost to a power cut is swept up like a lost task), they no longer block
    each other's reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=DEFAULT_BUSY_TIMEOUT_S, check_same_thread=False)
    # Switching needs a moment alone with the file; once switched it stays so for everyone.
    with contextlib.suppress(sqlite3.OperationalError):
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def embedded_broker_url(path: Path) -> str:
    """The broker URL of a SQLite file through this transport.

    Registers the transport's name with kombu on the way (an entry in kombu's table of
    transports, the same each time): done here, where the URL naming it is made, rather than
    as a side effect of importing this module. Every process that connects to the embedded
    broker builds its URL first (``worker.celery_app.celery_config``)."""
    TRANSPORT_ALIASES[TRANSPORT_NAME] = f"{__name__}:Transport"
    return f"{TRANSPORT_NAME}+sqlite:///{path.resolve()}"
