"""Fixtures of the story-step tests: one migrated database per backend (SQLite and Postgres),
or two of the same backend to replay one stream into (``two_databases``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from models import make_engine, session_factory
from tests.support.services import PostgresServer, migrate


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    migrate(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture(params=["sqlite", "postgres"])
def two_databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    if request.param == "sqlite":
        urls = [f"sqlite:///{tmp_path / name}" for name in ("one.db", "two.db")]
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        if not server.running:
            server.start()
        urls = [server.create_database(), server.create_database()]
    engines: list[Engine] = []
    for url in urls:
        migrate(url)
        engines.append(make_engine(url))
    yield session_factory(engines[0]), session_factory(engines[1])
    for engine in engines:
        engine.dispose()
