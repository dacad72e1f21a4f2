"""Health checks: is this deployment able to ingest right now?

Usage::

    report = run_checks(settings)
    report.ok                      # every check passed
    for check in report.checks:    # database, migrations, broker, beat, worker
        print(check.name, check.ok, check.detail)

Each check is one cheap probe with a bounded timeout. The checks that read the database
(migrations, beat, worker) fail with "database unreachable" when it is: one root cause, said
where it is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from models import RunKind, utcnow
from worker.config import Settings
from worker.heartbeat import (
    beat_stale_before,
    worker_stale_before,
    worker_stale_window_s,
)
from worker.migrations import head_revision
from worker.monitoring import queries

#: The checks, in the order they are run and printed.
CHECKS = ("database", "migrations", "broker", "beat", "worker")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}


def run_checks(
    settings: Settings,
    *,
    only: Sequence[str] = CHECKS,
    host: str | None = None,
    now: datetime | None = None,
) -> Report:
    """Run the checks named in ``only`` (all by default; a failure of one does not hide
    another's). ``host``: count only the beat and workers running on that host (a container's
    own processes)."""
    unknown = sorted(set(only) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown checks {', '.join(unknown)}; choose among {', '.join(CHECKS)}")
    now = now or utcnow()
    engine = queries.read_engine(settings.sqlalchemy_url)
    found: dict[str, Check] = {}
    try:
        found["database"] = _database(engine, settings)
        found["migrations"] = (
            _migrations(engine)
            if found["database"].ok
            else Check("migrations", False, "database unreachable")
        )
        if "broker" in only:
            found["broker"] = _broker(settings)
        schema_ok = found["database"].ok and found["migrations"].ok
        for name, check in (("beat", _beat), ("worker", _worker)):
            if name not in only:
                continue
            found[name] = (
                check(engine, settings, now, host)
                if schema_ok
                else Check(name, False, "unknown: database not ready")
            )
    finally:
        engine.dispose()
    return Report([found[name] for name in CHECKS if name in only and name in found])


def _database(engine: Engine, settings: Settings) -> Check:
    started = time.monotonic()
    where = queries.redacted(settings.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return Check("database", False, f"{where} unreachable: {_first_line(exc)}")
    return Check("database", True, f"{where} ({_ms(started)})")


def _migrations(engine: Engine) -> Check:
    head = head_revision()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:
        return Check("migrations", False, f"cannot read the revision: {_first_line(exc)}")
    if current != head:
        detail = f"at {current or 'none'}, head is {head}: run `storywire db upgrade`"
        return Check("migrations", False, detail)
    return Check("migrations", True, f"at head {head}")


def _broker(settings: Settings) -> Check:
    started = time.monotonic()
    try:
        where = queries.ping_broker(settings)
    except Exception as exc:
        target = queries.redacted(settings.redis_url) if settings.redis_url else "broker"
        return Check("broker", False, f"{target} unreachable: {_first_line(exc)}")
    return Check("broker", True, f"{where} ({_ms(started)})")


def _beat(engine: Engine, settings: Settings, now: datetime, host: str | None) -> Check:
    last = queries.last_heartbeat(engine, RunKind.BEAT, host=host)
    if last is None:
        where = f" on {host}" if host else ""
        return Check(
            "beat", False, f"no tick recorded{where}: is `storywire beat` (or run) started?"
        )
    age = (now - last).total_seconds()
    if last < beat_stale_before(now, settings):
        return Check("beat", False, f"last tick {_age(age)} ago: the beat is not running")
    return Check("beat", True, f"last tick {_age(age)} ago")


def _worker(engine: Engine, settings: Settings, now: datetime, host: str | None) -> Check:
    alive = queries.alive_runs(
        engine, RunKind.WORKER, worker_stale_before(now, settings), host=host
    )
    if not alive:
        window = f"{worker_stale_window_s(settings):.0f} s"
        return Check("worker", False, f"no worker heartbeat in the last {window}: none is running")
    hosts = sorted({f"{r['host']}:{r['pid']}" for r in alive})
    return Check("worker", True, f"{len(alive)} alive ({', '.join(hosts[:5])})")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
