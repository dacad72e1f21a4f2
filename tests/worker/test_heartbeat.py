"""The heartbeat: it stamps running runs only, from a thread or at each call, and a process
forked while it stamps can use the database."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from models import RunKind, utcnow
from tests.support.services import migrate
from tests.worker.conftest import run_row, set_run
from tests.worker.pipeline.conftest import make_settings
from tests.worker.test_runs import LOST_AFTER
from worker.heartbeat import Heartbeat
from worker.resources import Resources, build_resources
from worker.runs import close_runs, start_run


def test_a_stamp_says_whether_the_run_is_still_running(rt: Resources) -> None:
    run_id = start_run(rt.sessions, RunKind.WORKER, beating=True)
    heartbeat = Heartbeat(rt.settings.sqlalchemy_url, run_id)
    stale = utcnow() - timedelta(hours=1)
    set_run(rt, run_id, heartbeat_at=stale)
    assert heartbeat.stamp()
    assert run_row(rt, run_id).heartbeat_at > stale  # type: ignore[operator]
    set_run(rt, run_id, status="lost", heartbeat_at=stale)
    assert not heartbeat.stamp()
    assert run_row(rt, run_id).heartbeat_at == stale
    with pytest.raises(ValueError, match="every_s"):
        heartbeat.start()  # no interval: stamped by its owner's calls only
    heartbeat.stop()


def test_a_closed_run_takes_no_more_beats(rt: Resources) -> None:
    run_id = start_run(rt.sessions, RunKind.WORKER, beating=True)
    set_run(rt, run_id, status="finished", heartbeat_at=utcnow() - timedelta(hours=1))
    with Heartbeat(rt.settings.sqlalchemy_url, run_id, every_s=0.05):
        time.sleep(0.3)
    assert run_row(rt, run_id).heartbeat_at < utcnow() - timedelta(minutes=59)  # type: ignore[operator]


def test_heartbeat_stamps_a_running_run(rt: Resources) -> None:
    run_id = start_run(rt.sessions, RunKind.WORKER, beating=True)
    stale = utcnow() - timedelta(hours=1)
    set_run(rt, run_id, heartbeat_at=stale)
    with Heartbeat(rt.settings.sqlalchemy_url, run_id, every_s=0.05):
        deadline = time.monotonic() + 60
        while run_row(rt, run_id).heartbeat_at == stale and time.monotonic() < deadline:
            time.sleep(0.05)
    assert run_row(rt, run_id).heartbeat_at > stale  # type: ignore[operator]
    assert close_runs(rt.sessions, lost_after=LOST_AFTER)["lost"] == []


def test_a_process_forked_while_its_run_beats_can_use_the_database(
    tmp_path: Path, sqlite_url: str
) -> None:
    # The worker forks its pool processes while its run beats: a fork that caught the beat
    # inside SQLite left the child a copy of a mutex nobody would release (it hung for good).
    migrate(sqlite_url)
    rt = build_resources(make_settings(tmp_path, sqlite_url))
    run_id = start_run(rt.sessions, RunKind.WORKER, beating=True)
    rt.close()
    path = sqlite_url.removeprefix("sqlite:///")
    with Heartbeat(sqlite_url, run_id, every_s=0.002):  # beats nearly all the time
        for _ in range(40):
            pid = os.fork()
            if pid == 0:  # the child: one query, or SIGALRM kills it; never back to pytest
                code = 1
                try:
                    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # not pytest-timeout's
                    signal.alarm(30)
                    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
                        conn.execute("SELECT count(*) FROM runs").fetchone()
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                break
    assert not os.WIFSIGNALED(status), "a forked process hung on its first query"
    assert status == 0
