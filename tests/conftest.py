"""Shared fixtures: real Redis, real PostgreSQL, a local HTTP server, isolated settings.

- ``redis_server`` / ``postgres_server`` (session): real servers in temp dirs on 127.0.0.1
  (see tests/support/services.py). A missing binary FAILS the test: CI installs them.
- ``pg_url`` (function): a fresh empty Postgres database, dropped afterwards.
- ``sqlite_url`` (function): a SQLite file in the test's tmp_path.
- ``http_server`` (function): a started :class:`LocalHTTPServer`.
- ``dead_port`` (function): a port that refuses connections for the whole test.
- ``_isolated_settings`` (autouse): fresh settings with the data dir in tmp_path and no
  DATABASE_URL / REDIS_URL from the caller's environment.

Migrate a database with ``tests.support.services.migrate(url)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine

from models import make_engine
from tests.support.httpserver import LocalHTTPServer
from tests.support.services import (
    PostgresServer,
    RedisServer,
    ServiceUnavailable,
    migrate,
    refused_port,
)
from worker.config import get_settings

_S = TypeVar("_S", RedisServer, PostgresServer)

# Environment a developer's shell may carry that would point tests at a real deployment.
_ENV_TO_CLEAR = ("DATABASE_URL", "REDIS_URL", "STORYWIRE_DATABASE_URL", "STORYWIRE_REDIS_URL")

# Nor may the terminal the tests were started from shape what they read: piped CLI output
# takes its width from COLUMNS (read once, when worker.cli is imported), and the commands
# the tests start inherit this environment. Gone before any test module imports the CLI.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    # Nothing a test runs may write into the checkout's .storywire/.
    monkeypatch.setenv("STORYWIRE_DATA_DIR", str(tmp_path / "storywire-data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = _start(RedisServer)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = _start(PostgresServer)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server."""
    if not postgres_server.running:  # a previous test stopped it (crash tests)
        postgres_server.start()
    url = postgres_server.create_database()
    yield url
    if postgres_server.running:
        postgres_server.drop_database(url)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on a fresh, migrated database of the session's PostgreSQL server."""
    migrate(pg_url)
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'storywire-test.db'}"


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer() as server:
        yield server


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A port on which 127.0.0.0/8 refuses connections, and nobody else can listen, until
    the test ends (a port merely found free could be taken by the time it is used)."""
    with refused_port() as port:
        yield port


def _start(kind: type[_S]) -> _S:
    try:
        server = kind()
    except ServiceUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        server.start()
    except ServiceUnavailable as exc:
        server.close()
        pytest.fail(str(exc), pytrace=False)
    return server
