"""Stopping the embedded worker the way service managers do: SIGTERM to its process group.

systemd, ``timeout`` and ``docker stop`` signal every process of the group, the pool
processes and the embedded beat as well as the main process. The worker must still shut
down: here it used to hang in its warm shutdown for good (a pool process killed by the
signal held the pool's queue lock).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from models import Run, make_engine
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import Process, run_cli, storywire_env, wait_for

pytestmark = pytest.mark.slow

#: Far beyond the 30 s a service manager waits before SIGKILL: the test waits for the exit,
#: it does not time it.
EXIT_DEADLINE_S = 120
POOL = 2  # --concurrency


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            members.append(int(entry.name))
    return members


def _sigterm_ignorers(pid: int) -> int:
    """How many children of ``pid`` ignore SIGTERM: its pool processes, once each has run
    ``worker_process_init`` (before that, the signal still kills one)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    count = 0
    for child in children:
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        ignored = re.search(r"^SigIgn:\s+([0-9a-f]+)$", status, re.M)
        count += bool(ignored and int(ignored.group(1), 16) & 1 << (signal.SIGTERM - 1))
    return count


def test_sigterm_to_the_process_group_stops_the_embedded_worker(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    from tests.e2e.site import serve_site

    feeds = serve_site(http_server)
    env = storywire_env(
        STORYWIRE_DATA_DIR=str(tmp_path / "data"),
        STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
        STORYWIRE_DISPATCH_INTERVAL_S="1",
        STORYWIRE_HOST_RATE_PER_S="50",
    )
    run_cli(["feeds", "add", *feeds.values()], env)
    proc = Process(["run", "--concurrency", str(POOL)], env, tmp_path / "run.log")
    pgid = proc.popen.pid  # start_new_session: the group is the command's own (setsid)

    database = tmp_path / "data" / "storywire.db"

    def started() -> bool:
        return (
            "ready" in proc.output()
            and len(_group_members(pgid)) >= 3
            and _sigterm_ignorers(pgid) == POOL
            and "beat" in _run_statuses(database)  # the beat has ticked: its run is open
        )

    try:
        wait_for(started, timeout=120, what="the worker, its pool (SIGTERM ignored) and beat",
                 processes=(proc,))  # fmt: skip
        os.killpg(pgid, signal.SIGTERM)  # what `kill -TERM -- -PID` does
        try:
            code = proc.popen.wait(EXIT_DEADLINE_S)
        except subprocess.TimeoutExpired:
            log = proc.output()[-3000:]
            pytest.fail(f"still running {EXIT_DEADLINE_S} s after SIGTERM:\n{log}")
        assert code == 0, proc.output()[-3000:]
        wait_for(lambda: _group_members(pgid) == [], timeout=30, what="no process left")
    finally:
        proc.stop()
    log = proc.output()
    assert "Warm shutdown" in log
    assert "exited with 'signal 15" not in log  # no pool process was killed by the signal
    # Both runs are closed on the way out, not left for the sweeper to call lost.
    assert _run_statuses(database) == {"worker": ["finished"], "beat": ["finished"]}


def test_sigterm_stops_a_standalone_beat_and_closes_its_run(tmp_path: Path) -> None:
    env = storywire_env(STORYWIRE_DATA_DIR=str(tmp_path / "data"))
    run_cli(["db", "upgrade"], env)
    database = tmp_path / "data" / "storywire.db"
    proc = Process(["beat"], env, tmp_path / "beat.log")
    try:
        wait_for(lambda: "beat" in _run_statuses(database), timeout=120,
                 what="the beat's first tick", processes=(proc,))  # fmt: skip
        proc.popen.send_signal(signal.SIGTERM)
        code = proc.popen.wait(EXIT_DEADLINE_S)
    finally:
        proc.stop()
    assert code == 0, proc.output()[-3000:]
    assert _run_statuses(database) == {"beat": ["finished"]}


def _run_statuses(database: Path) -> dict[str, list[str]]:
    """The runs in the database, by kind: their statuses (none before it exists)."""
    if not database.exists():
        return {}
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Run.kind, Run.status).order_by(Run.id)).all()
    except OperationalError:  # not migrated yet
        return {}
    finally:
        engine.dispose()
    statuses: dict[str, list[str]] = {}
    for kind, status in rows:
        statuses.setdefault(kind, []).append(status)
    return statuses
