"""Fixtures of the worker's top-level modules: resources on each database, run rows, and the
pages scanned for a date."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

import worker.extract.dates as dates_module
from models import Run, session_scope
from tests.support.services import migrate
from tests.worker.pipeline.conftest import make_settings
from worker.resources import Resources, build_resources


@pytest.fixture(params=["sqlite", "postgres"])
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Resources]:
    """Resources on a migrated SQLite database, then on a migrated Postgres one."""
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    migrate(url)
    resources = build_resources(make_settings(tmp_path, url))
    yield resources
    resources.close()


def run_row(rt: Resources, run_id: int) -> Run:
    with session_scope(rt.sessions) as s:
        run = s.get(Run, run_id)
        assert run is not None
        return run


def set_run(rt: Resources, run_id: int, **values: object) -> None:
    with session_scope(rt.sessions) as s:
        s.execute(update(Run).where(Run.id == run_id).values(**values))


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URL of each page scanned for a date (``worker.extract.dates.scan_page``, the real
    scan), in order."""
    urls: list[str] = []
    real_scan = dates_module.scan_page

    def counting_scan(tree: Any, **kwargs: Any) -> str | None:
        urls.append(kwargs["url"])
        return real_scan(tree, **kwargs)

    monkeypatch.setattr(dates_module, "scan_page", counting_scan)
    return urls
