"""`storywire health`: green on a live deployment, and red for each check, on real Postgres
and Redis (and the embedded defaults)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from models import Run, RunKind, make_engine, session_factory, utcnow
from tests.support.services import RedisServer, migrate
from worker.cli import app
from worker.config import get_settings
from worker.lifecycle import BeatRun, close_worker_run, open_worker_run
from worker.runs import start_run


def _health(*args: str) -> tuple[int, dict[str, tuple[bool, str]]]:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["health", "--json", *args])
    report = json.loads(result.output)
    assert report["ok"] == (result.exit_code == 0)
    return result.exit_code, {c["name"]: (c["ok"], c["detail"]) for c in report["checks"]}


def _alive(url: str, *, beat_age_s: float = 0, worker_age_s: float = 0) -> None:
    """A beat run and a worker run whose last heartbeats are that old."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    now = utcnow()
    for kind, age in ((RunKind.BEAT, beat_age_s), (RunKind.WORKER, worker_age_s)):
        run_id = start_run(sessions, kind)
        with engine.begin() as conn:
            conn.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(heartbeat_at=now - timedelta(seconds=age))
            )
    engine.dispose()


@pytest.fixture
def deployment(pg_url: str, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    migrate(pg_url)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    return pg_url


def test_green(deployment: str) -> None:
    _alive(deployment)
    code, checks = _health()
    assert code == 0
    assert list(checks) == ["database", "migrations", "broker", "beat", "worker"]
    assert all(ok for ok, _ in checks.values()), checks
    assert "1 alive" in checks["worker"][1]

    plain = CliRunner().invoke(app, ["health"])
    assert plain.exit_code == 0
    assert [line.split()[:2] for line in plain.output.splitlines()] == [
        ["ok", "database"], ["ok", "migrations"], ["ok", "broker"], ["ok", "beat"],
        ["ok", "worker"],
    ]  # fmt: skip
    assert "storywire@" not in plain.output or ":***@" in plain.output  # no password shown


def test_database_unreachable(
    deployment: str, monkeypatch: pytest.MonkeyPatch, dead_port: int
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody:secret@127.0.0.1:{dead_port}/x")
    code, checks = _health()
    assert code == 1
    assert not checks["database"][0] and "unreachable" in checks["database"][1]
    assert "secret" not in checks["database"][1]
    assert checks["migrations"] == (False, "database unreachable")
    assert checks["broker"][0]
    assert not checks["beat"][0] and not checks["worker"][0]


def test_migrations_behind(
    pg_url: str, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(pg_url, "0010")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    code, checks = _health()
    assert code == 1
    assert checks["database"][0]
    assert not checks["migrations"][0]
    assert (
        "at 0010" in checks["migrations"][1] and "storywire db upgrade" in checks["migrations"][1]
    )


def test_broker_unreachable(
    deployment: str, monkeypatch: pytest.MonkeyPatch, dead_port: int
) -> None:
    _alive(deployment)
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{dead_port}/0")
    code, checks = _health()
    assert code == 1
    assert [name for name, (ok, _) in checks.items() if not ok] == ["broker"]
    assert "unreachable" in checks["broker"][1]


def test_beat_stale(deployment: str) -> None:
    _alive(deployment, beat_age_s=3600)
    code, checks = _health()
    assert code == 1
    assert [name for name, (ok, _) in checks.items() if not ok] == ["beat"]
    assert "60 min ago" in checks["beat"][1]


def test_no_beat_ever(deployment: str) -> None:
    code, checks = _health()
    assert code == 1
    assert "no tick recorded" in checks["beat"][1]


def test_worker_stale(deployment: str) -> None:
    _alive(deployment, worker_age_s=600)
    code, checks = _health()
    assert code == 1
    assert [name for name, (ok, _) in checks.items() if not ok] == ["worker"]
    assert "none is running" in checks["worker"][1]


def test_embedded_defaults_before_anything_ran() -> None:
    """A fresh data dir: the database is created by `db upgrade`; no beat, no worker yet."""
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    code, checks = _health()
    assert code == 1
    assert checks["database"][0] and checks["migrations"][0] and checks["broker"][0]
    assert "embedded SQLite broker" in checks["broker"][1]
    assert not checks["beat"][0] and not checks["worker"][0]


def test_heartbeats_are_what_the_checks_read(deployment: str) -> None:
    settings = get_settings()
    open_worker_run()  # what a worker's main process does at worker_init
    BeatRun(settings).tick()
    try:
        code, checks = _health()
        assert code == 0, checks
    finally:
        close_worker_run()
    code, checks = _health()
    assert not checks["worker"][0]  # a clean stop finishes the run: no longer alive
    engine = make_engine(deployment)
    with engine.connect() as conn:
        kinds = {(r.kind, r.status) for r in conn.execute(Run.__table__.select())}
    engine.dispose()
    assert kinds == {("worker", "finished"), ("beat", "running")}


def test_selected_checks_and_this_host_only(deployment: str) -> None:
    _alive(deployment)  # stamped by this process: host = this machine
    code, checks = _health("--checks", "database,worker", "--local")
    assert code == 0
    assert list(checks) == ["database", "worker"]

    engine = make_engine(deployment)
    with engine.begin() as conn:
        conn.execute(update(Run).values(host="another-container"))
    engine.dispose()
    assert _health("--checks", "worker")[0] == 0  # alive somewhere in the deployment
    code, checks = _health("--checks", "beat,worker", "--local")
    assert code == 1
    assert not checks["beat"][0] and not checks["worker"][0]

    bad = CliRunner().invoke(app, ["health", "--checks", "database,disk"])
    assert bad.exit_code == 2
    assert "unknown checks disk" in bad.output
