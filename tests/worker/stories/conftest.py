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
from worker.stories.assigner import Features


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


def assert_same_features(got: Features, expected: Features) -> None:
    assert got.digest == expected.digest
    assert got.keys == expected.keys
    if expected.sketch is None:
        assert got.sketch is None
    else:
        assert got.sketch is not None
        assert got.sketch.signature.dtype == expected.sketch.signature.dtype
        assert got.sketch.signature.tolist() == expected.sketch.signature.tolist()
        assert got.sketch.shingles == expected.sketch.shingles
    assert got.terms is not None and expected.terms is not None
    # In order, and each float bit for bit: a vector's sums depend on both.
    assert [(t, c.hex()) for t, c in got.terms.counts.items()] == [
        (t, c.hex()) for t, c in expected.terms.counts.items()
    ]
    assert got.terms.proper == expected.terms.proper
    assert got.phrases == expected.phrases
