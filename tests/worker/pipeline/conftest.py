"""Fixtures for the pipeline tests: a migrated SQLite database and the resources on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models import session_scope
from tests.support.services import migrate
from worker.config import Settings
from worker.pipeline import refresh_feed
from worker.resources import Resources, build_resources
from worker.store import add_feed


def make_settings(tmp_path: Path, url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": url,
        "allow_private_networks": True,  # the local server is on 127.0.0.1
        "host_rate_per_s": 1000.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def resources(tmp_path: Path, sqlite_url: str) -> Iterator[Resources]:
    migrate(sqlite_url)
    rt = build_resources(make_settings(tmp_path, sqlite_url))
    yield rt
    rt.close()


def ingest_feed(rt: Resources, url: str) -> list[int]:
    """Add the feed at ``url`` and refresh it once: the ids of the article stubs it made."""
    with session_scope(rt.sessions) as s:
        feed, _ = add_feed(s, url)
    return refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed.id).new_article_ids
