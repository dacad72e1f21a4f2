"""Real Redis and PostgreSQL servers for tests, each in its own temp dir on 127.0.0.1.

Usage::

    with RedisServer() as redis:
        redis.url                 # redis://127.0.0.1:PORT/0
        redis.restart()           # stop + start on the same port (crash/reconnect tests)
        redis.kill()              # SIGKILL, no clean shutdown

    with PostgresServer() as pg:
        pg.url                    # postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
        url = pg.create_database()   # a fresh empty database, returns its URL
        pg.drop_database(url)
        pg.restart()

    migrate(url)                  # alembic upgrade head, programmatically

The servers are the machine's own binaries (Debian's ``redis-server`` and PostgreSQL under
``/usr/lib/postgresql/*/bin``); ``.ci/run`` installs them. A missing binary raises
:class:`ServiceUnavailable` with a message saying what to install: the fixtures turn that into
a test failure, never a skip, so a CI box without the servers cannot pass by running nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
import redis
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy.engine import URL, make_url

#: Seconds to wait for a server to accept connections after it was started (only fails a
#: start that hangs: a busy machine can take many seconds to start PostgreSQL).
DEFAULT_START_TIMEOUT_S = 120.0
#: Starts tried on fresh ports when the port found free was taken before the server bound it
#: (other tests and programs on the machine pick ports too).
DEFAULT_PORT_ATTEMPTS = 5
#: Seconds to wait for a server to exit after it was asked to stop (only fails a stop that
#: hangs: a busy machine can take long to shut PostgreSQL down).
DEFAULT_STOP_TIMEOUT_S = 120.0
#: The checkout's root: the Alembic configuration lives in its pyproject.toml.
REPO_ROOT = Path(__file__).resolve().parents[2]
#: System user that runs PostgreSQL when the tests run as root (initdb refuses root).
DEFAULT_PG_USER = "postgres"
#: Created (without home or shell) when running as root on a machine with no such user.
FALLBACK_PG_USER = "storywire-pg"

# Servers still running are stopped when the interpreter exits, even if a fixture's
# teardown never ran (an interrupted session), so no orphan keeps a port or a temp dir.
_RUNNING: set[_Server] = set()
# Migrated template databases by server (or "sqlite"): see migrate().
_TEMPLATES: dict[tuple[str, ...], str] = {}
# What redis-server and PostgreSQL log when their port is someone else's.
_PORT_TAKEN = "Address already in use"


class ServiceUnavailable(RuntimeError):
    """A server binary is missing or the server did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Right now only: anyone may take it before the caller binds it. A server started on it
    must be ready to start again on another one (see ``RedisServer.start``); a port that
    must refuse connections is :func:`refused_port`'s.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A TCP port on which every loopback address refuses connections, inside the block.

    The port is bound on all addresses (no SO_REUSEADDR) but not listening: nobody else can
    listen on it or get it as a client port meanwhile, as they could on a port that was only
    found free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        yield int(sock.getsockname()[1])


def migrate(url: str, revision: str = "head") -> None:
    """Run ``alembic upgrade`` to ``revision`` on ``url``, as ``storywire db upgrade`` would.

    An empty database upgraded to head becomes instead a copy of a template that alembic
    upgraded once for the session (``CREATE DATABASE ... TEMPLATE`` on PostgreSQL, SQLite's
    backup API): the same schema and version row, without replaying every migration for each
    of the hundreds of tests that need a database. Anything else runs alembic.
    """
    if revision == "head" and _copy_of_template(url):
        return
    command.upgrade(alembic_config(url), revision)


def _copy_of_template(url: str) -> bool:
    """Make the empty database at ``url`` a copy of the migrated template; False when it is
    not empty (or in use, or of another kind) and alembic must run."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not parsed.database or (path.exists() and path.stat().st_size > 0):
            return False
        template = _template(("sqlite",), _sqlite_template)
        with (
            contextlib.closing(sqlite3.connect(template)) as source,
            contextlib.closing(sqlite3.connect(path)) as target,
        ):
            source.backup(target)
        return True
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return False
    key = ("postgresql", parsed.host or "", str(parsed.port or ""), parsed.username or "")
    connect = {"host": parsed.host, "port": parsed.port, "user": parsed.username,
               "password": parsed.password, "connect_timeout": 30}  # fmt: skip
    with psycopg.connect(dbname=parsed.database, **connect) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
            "'information_schema')"
        ).fetchone()
    if tables is None or tables[0]:
        return False
    template = _template(key, lambda name: _postgres_template(parsed, connect, name))
    with psycopg.connect(dbname="postgres", autocommit=True, **connect) as admin:
        users = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if users is None or users[0]:
            return False  # someone holds a connection to it: leave it be
        name = sql.Identifier(parsed.database)
        admin.execute(sql.SQL("DROP DATABASE {}").format(name))
        # FILE_COPY: copies the few files of a small database at once, where PostgreSQL
        # 15's default (WAL_LOG) writes every block to the WAL, ten times slower here.
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                name, sql.Identifier(template)
            )
        )
    return True


def _template(key: tuple[str, ...], make: Callable[[str], str]) -> str:
    if key not in _TEMPLATES:
        _TEMPLATES[key] = make(f"storywire_template_{uuid.uuid4().hex[:12]}")
    return _TEMPLATES[key]


def _sqlite_template(name: str) -> str:
    path = Path(tempfile.mkdtemp(prefix="storywire-template-")) / f"{name}.db"
    command.upgrade(alembic_config(f"sqlite:///{path}"), "head")
    atexit.register(shutil.rmtree, path.parent, True)
    return str(path)


def _postgres_template(parsed: URL, connect: dict[str, Any], name: str) -> str:
    with psycopg.connect(dbname="postgres", autocommit=True, **connect) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    command.upgrade(alembic_config(parsed.set(database=name).render_as_string(False)), "head")
    return name


def alembic_config(url: str) -> Config:
    """Alembic's configuration from pyproject.toml, aimed at ``url`` (read by alembic/env.py)."""
    config = Config(toml_file=str(REPO_ROOT / "pyproject.toml"))
    config.attributes["database_url"] = url
    return config


class _Server:
    """Start/stop bookkeeping shared by both servers."""

    name = "server"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        # A port we found free may be taken before the server binds it: then the first
        # start moves to another one. A caller's port, or the port of a server that has
        # run (its clients know the URL), is kept.
        self._may_move = port is None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"storywire-{self.name}-"))
        self.running = False

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        """Stop and start again on the same port, keeping the data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its temp dir."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _log_tail(self, path: Path, lines: int = 20) -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RedisServer(_Server):
    """A ``redis-server`` without persistence, in the foreground as a child process."""

    name = "redis"

    def __init__(self, port: int | None = None) -> None:
        self.binary = _find_redis()
        super().__init__(port)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = self.workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (benchmarks read its CPU time)."""
        return self._proc.pid if self._proc is not None and self.running else None

    def start(self) -> None:
        if self.running:
            return
        for _ in range(DEFAULT_PORT_ATTEMPTS):
            if self._start_once():
                self._may_move = False
                return
            self.port = free_port()  # taken since we found it free: another one
        raise ServiceUnavailable(
            f"redis-server found every port taken ({DEFAULT_PORT_ATTEMPTS} tries):\n"
            + self._log_tail(self._log)
        )

    def _start_once(self) -> bool:
        """Start and wait for PING; False when the port was taken and may be changed."""
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            # A test broker needs no durability: no RDB snapshots, no append-only file.
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self._log),
        ]  # fmt: skip
        self._log.unlink(missing_ok=True)
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        self.running = True
        _RUNNING.add(self)
        deadline = time.monotonic() + DEFAULT_START_TIMEOUT_S
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            while True:
                if self._proc.poll() is not None:
                    self._forget()
                    log = self._log_tail(self._log)
                    if self._may_move and _PORT_TAKEN in log:
                        return False
                    raise ServiceUnavailable(
                        f"redis-server exited with {self._proc.returncode}:\n" + log
                    )
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                    if client.ping():
                        return True
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServiceUnavailable(
                        f"redis-server did not answer PING on port {self.port} within "
                        f"{DEFAULT_START_TIMEOUT_S:.0f}s:\n" + self._log_tail(self._log)
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self._proc is None or not self.running:
            return
        self._proc.terminate()
        try:
            self._proc.wait(DEFAULT_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._forget()

    def kill(self) -> None:
        """End the server with SIGKILL, as a crash would."""
        if self._proc is None or not self.running:
            return
        self._proc.kill()
        self._proc.wait()
        self._forget()

    def _forget(self) -> None:
        self.running = False
        _RUNNING.discard(self)


class PostgresServer(_Server):
    """A PostgreSQL cluster made with ``initdb`` and run with ``pg_ctl``, trust auth on loopback.

    As root, the cluster is owned and run by the ``postgres`` system user (created as
    ``storywire-pg`` if missing), because PostgreSQL refuses to run as root.
    """

    name = "pg"
    superuser = "postgres"

    def __init__(self, port: int | None = None) -> None:
        self.bindir = _find_postgres_bindir()
        super().__init__(port)
        self.datadir = self.workdir / "data"
        self._log = self.workdir / "postgres.log"
        self._user = _pg_run_as()
        if self._user is not None:
            # mkdtemp made the dir 0700 root-owned: hand it to the user that runs the server.
            os.chown(self.workdir, self._user.pw_uid, self._user.pw_gid)
        self._initdb()

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs (benchmarks read the CPU time of it and
        its backends)."""
        return self._postmaster_pid() if self.running else None

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (``test_<uuid>`` by default) and return its URL."""
        name = name or f"test_{uuid.uuid4().hex}"
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name_or_url: str) -> None:
        """Drop a database by name or URL, disconnecting whoever still uses it."""
        name = name_or_url.rsplit("/", 1)[-1]
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def start(self) -> None:
        if self.running:
            return
        for _ in range(DEFAULT_PORT_ATTEMPTS):
            result = self._run(
                [self._bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self._log), "-w",
                 "-t", str(int(DEFAULT_START_TIMEOUT_S)), "start"],
            )  # fmt: skip
            if result.returncode == 0:
                self._may_move = False
                self.running = True
                _RUNNING.add(self)
                return
            log = self._log_tail(self._log)
            if not (self._may_move and _PORT_TAKEN in log):
                raise ServiceUnavailable(
                    f"pg_ctl start failed ({result.returncode}): {result.stdout}\n" + log
                )
            self.port = free_port()  # taken since we found it free: another one
            self._write_conf({"port": str(self.port)})
            self._log.unlink(missing_ok=True)  # so the next clash is not read from this one
        raise ServiceUnavailable(
            f"PostgreSQL found every port taken ({DEFAULT_PORT_ATTEMPTS} tries):\n"
            + self._log_tail(self._log)
        )

    def stop(self) -> None:
        if not self.running:
            return
        # "fast" mode disconnects clients (pools left open by tests) instead of waiting on them.
        result = self._run(
            [self._bin("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w",
             "-t", str(int(DEFAULT_STOP_TIMEOUT_S)), "stop"],
        )  # fmt: skip
        if result.returncode != 0:
            self.kill()
            return
        self.running = False
        _RUNNING.discard(self)

    def kill(self) -> None:
        """End the server with SIGKILL, as a crash would (the next start recovers).

        Its backends and helpers too: one the postmaster leaves behind exits only when it
        notices, and while it lives it holds the shared memory, so that the next start
        refuses to run ("pre-existing shared memory block is still in use")."""
        pid = self._postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)  # no new backend forked while its list is read
            pids = [pid, *_children(pid)]
            for each in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(each, signal.SIGKILL)
            for each in pids:
                _wait_gone(each, DEFAULT_STOP_TIMEOUT_S)
            # A crashed postmaster that nobody has reaped yet still "exists" to the next
            # start's lock-file checks; after a real crash the locks would be stale too.
            (self.datadir / "postmaster.pid").unlink(missing_ok=True)
            (self.workdir / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
        self.running = False
        _RUNNING.discard(self)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _initdb(self) -> None:
        result = self._run(
            [self._bin("initdb"), "-D", str(self.datadir), "-U", self.superuser,
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
        )  # fmt: skip
        if result.returncode != 0:
            raise ServiceUnavailable(f"initdb failed ({result.returncode}):\n{result.stdout}")
        # Written into the cluster's own config so restart() keeps port and settings.
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.workdir}'",
            # Test data is throwaway: skip the disk flushes that make every commit slow.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "log_min_messages": "warning",
        }
        self._write_conf(settings)

    def _write_conf(self, settings: dict[str, str]) -> None:
        # Appended: the last line naming a setting wins (a port moved after a clash).
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# storywire tests\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.superuser, dbname="postgres",
            autocommit=True, connect_timeout=10,
        )  # fmt: skip

    def _bin(self, name: str) -> str:
        return str(self.bindir / name)

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        user = self._user
        return subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.workdir,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            env={**os.environ, "HOME": str(self.workdir), "LC_ALL": "C"} if user else None,
            check=False,
        )


def _find_redis() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise ServiceUnavailable(
            "redis-server not found on PATH: install it (`apt-get install -y redis-server`; "
            "`bash .ci/run` does this)."
        )
    return found


def _find_postgres_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/N/bin``, else the dir of ``initdb`` on PATH."""

    def version(bindir: str) -> int:
        match = re.search(r"/postgresql/(\d+)/bin$", bindir)
        return int(match.group(1)) if match else 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for bindir in candidates:
        if all((Path(bindir) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(bindir)
    raise ServiceUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in "
        "/usr/lib/postgresql/*/bin or on PATH: install them (`apt-get install -y postgresql`; "
        "`bash .ci/run` does this)."
    )


def _pg_run_as() -> pwd.struct_passwd | None:
    """The unprivileged user to run PostgreSQL as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in (DEFAULT_PG_USER, FALLBACK_PG_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
         FALLBACK_PG_USER],
        check=True,
    )  # fmt: skip
    return pwd.getpwnam(FALLBACK_PG_USER)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _wait_gone(pid: int, timeout: float) -> None:
    # Polls /proc rather than waiting: the postmaster is pg_ctl's daemon, not our child. A
    # zombie counts as gone (in a container nobody may reap it).
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state == "Z":
            return
        time.sleep(0.05)


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_RUNNING):
        with contextlib.suppress(Exception):
            server.close()
