"""Start-up checks of the CLI: what a command needs is there, or one line says what is not.

Usage::

    ensure_data_dir(settings)              # created, or UserError naming STORYWIRE_DATA_DIR
    check_database(settings.sqlalchemy_url)
    check_broker(settings, wait_s=DEFAULT_SERVICE_WAIT_S)   # services started side by side

A long-running process (``run``, ``worker``, ``beat``) waits a little for a database or broker
started at the same moment (docker-compose, a Procfile) before giving up; a one-off command
says at once that it cannot reach them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import redis
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from models import make_engine
from worker.cli.errors import UserError, one_line
from worker.config import Settings

#: How long ``run``/``worker``/``beat`` wait for the database and broker to come up.
DEFAULT_SERVICE_WAIT_S = 10.0
#: Connect timeout of one check: an address that drops packets must not hang the command.
DEFAULT_CHECK_TIMEOUT_S = 5


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data dir (embedded database, broker, beat schedule, host-rate file)."""
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the data directory {str(path)!r}: {exc.strerror or exc}; "
            "set STORYWIRE_DATA_DIR to a directory Storywire can create and write"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(
            f"the data directory {str(path)!r} is not writable; "
            "set STORYWIRE_DATA_DIR to a directory Storywire can write"
        )
    return path


def check_database(url: str, *, wait_s: float = 0.0, must_exist: bool = False) -> None:
    """Connect once to ``url`` (retrying for ``wait_s``); ``must_exist``: a SQLite file is
    not created (a reader must not write)."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if must_exist and database not in ("", ":memory:") and not Path(database).is_file():
            raise UserError(f"no database at {database}: run `storywire db upgrade` first")
        connect_args: dict[str, object] = {}
    else:
        connect_args = {"connect_timeout": DEFAULT_CHECK_TIMEOUT_S}

    def attempt() -> None:
        try:
            engine = make_engine(url, connect_args=connect_args)
        except OSError as exc:  # the SQLite file's directory
            raise UserError(
                f"cannot create the directory of the database {shown}: {exc.strerror or exc}; "
                "check DATABASE_URL or STORYWIRE_DATA_DIR"
            ) from exc
        try:
            with engine.connect():
                pass
        except DBAPIError as exc:
            reason = one_line(str(exc.orig).split("\n", 1)[0]) if exc.orig else str(exc)
            raise UserError(
                f"cannot connect to the database {shown}: {reason}; "
                "check DATABASE_URL and that the database server is running"
            ) from exc
        finally:
            engine.dispose()

    _with_wait(attempt, wait_s)


def check_broker(settings: Settings, *, wait_s: float = 0.0) -> None:
    """PING the Redis broker (retrying for ``wait_s``); nothing to check when embedded."""
    if not settings.redis_url:
        return
    parts = urlsplit(settings.redis_url)
    where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"

    def attempt() -> None:
        client = redis.Redis.from_url(
            settings.redis_url or "",
            socket_timeout=DEFAULT_CHECK_TIMEOUT_S,
            socket_connect_timeout=DEFAULT_CHECK_TIMEOUT_S,
        )
        try:
            client.ping()
        except redis.RedisError as exc:
            raise UserError(
                f"cannot reach Redis at {where}: {one_line(str(exc))}; "
                "check REDIS_URL and that Redis is running"
            ) from exc
        finally:
            client.close()

    _with_wait(attempt, wait_s)


def _with_wait(attempt: Callable[[], None], wait_s: float) -> None:
    if wait_s <= 0:
        attempt()
        return
    for tried in Retrying(
        stop=stop_after_delay(wait_s),
        wait=wait_exponential(multiplier=0.25, max=2),
        retry=retry_if_exception_type(UserError),
        reraise=True,
    ):
        with tried:
            attempt()
