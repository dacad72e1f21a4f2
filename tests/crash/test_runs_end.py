"""Every run ends, with real processes: a worker stopped cleanly finishes its run, a worker
killed with -9 has its run marked lost by the sweeper, a queued ``storywire fetch`` finishes
once its work is done, and one whose tasks could not be enqueued fails.

Redis broker (the embedded SQLite broker polls), SQLite database; heartbeats every second,
a run lost after 5 s without one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import Engine, select

from models import Run, make_engine
from tests.crash.conftest import flush_broker
from tests.e2e.site import serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import STORYWIRE, Process, run_cli, storywire_env, wait_for
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow


def _runs(engine: Engine) -> dict[int, Run]:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(Run))}  # type: ignore[misc]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'storywire.db'}")
    yield engine
    engine.dispose()


def _env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    return storywire_env(
        STORYWIRE_DATA_DIR=str(tmp_path / "data"),
        REDIS_URL=redis_url,
        STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
        STORYWIRE_HOST_RATE_PER_S="50",
        STORYWIRE_RUN_HEARTBEAT_S="1",
        STORYWIRE_RUN_LOST_AFTER_S="5",
    )


def _worker_runs(engine: Engine) -> list[Run]:
    return [r for r in _runs(engine).values() if r.kind == "worker"]


def test_worker_runs_end_when_stopped_or_killed(
    tmp_path: Path, redis_server: RedisServer, engine: Engine
) -> None:
    flush_broker(redis_server.url)
    env = _env(tmp_path, redis_server.url)
    run_cli(["db", "upgrade"], env)
    first = Process(["worker", "--concurrency", "2"], env, tmp_path / "first.log")
    second = Process(["worker", "--concurrency", "2"], env, tmp_path / "second.log")
    third: Process | None = None
    client = Celery("runs-test", broker=redis_server.url)
    try:
        # One run per worker, not one per pool process; it beats while the worker lives.
        wait_for(lambda: len(_worker_runs(engine)) == 2 and "ready" in first.output()
                 and "ready" in second.output(), timeout=120, what="two workers' runs",
                 processes=(first, second))  # fmt: skip
        by_pid = {r.pid: r.id for r in _worker_runs(engine)}
        killed_run, stopped_run = by_pid[first.popen.pid], by_pid[second.popen.pid]
        beat_before = _runs(engine)[killed_run].heartbeat_at
        wait_for(lambda: _runs(engine)[killed_run].heartbeat_at != beat_before, timeout=60,
                 what="a heartbeat", processes=(first,))  # fmt: skip

        os.killpg(first.popen.pid, signal.SIGKILL)  # no clean-up at all
        first.popen.wait(30)
        os.killpg(second.popen.pid, signal.SIGTERM)  # a clean stop, as systemd does it
        second.popen.wait(120)
        assert _runs(engine)[stopped_run].status == "finished"
        assert _runs(engine)[killed_run].status == "running"  # nobody said otherwise yet

        # The next worker's sweeper (beat's task, sent here) sees the heartbeat has stopped.
        third = Process(["worker", "--concurrency", "1"], env, tmp_path / "third.log")

        def swept_lost() -> bool:
            client.send_task("worker.tasks.sweep", queue="feeds")
            return _runs(engine)[killed_run].status == "lost"

        wait_for(swept_lost, timeout=120, what="the killed worker's run lost", processes=(third,),
                 interval=2)  # fmt: skip
    finally:
        client.close()
        for process in (first, second, third):
            if process is not None:
                process.stop(timeout=120)  # a warm shutdown, however busy the machine
        flush_broker(redis_server.url)
    runs = _runs(engine)
    killed, stopped = runs[killed_run], runs[stopped_run]
    assert killed.finished_at == killed.heartbeat_at  # its last sign of life
    assert stopped.finished_at is not None and "articles" in stopped.stats
    assert [r.status for r in _worker_runs(engine)].count("running") == 0  # third stopped too


def test_a_queued_fetch_finishes_when_its_work_is_done(
    tmp_path: Path, http_server: LocalHTTPServer, redis_server: RedisServer, engine: Engine
) -> None:
    flush_broker(redis_server.url)
    env = _env(tmp_path, redis_server.url)
    feeds = serve_site(http_server)
    run_cli(["feeds", "add", *feeds.values()], env)
    worker = Process(["worker", "--concurrency", "2"], env, tmp_path / "worker.log")
    try:
        out = run_cli(["fetch", "--all"], env)  # enqueued: no beat runs, no sweep either
        run_id = int(out.split()[1])
        wait_for(lambda: _runs(engine)[run_id].status != "running", timeout=120,
                 what="the fetch run to end", processes=(worker,))  # fmt: skip
    finally:
        worker.stop()
        flush_broker(redis_server.url)
    run = _runs(engine)[run_id]
    assert run.status == "finished"
    assert run.heartbeat_at is None  # no process of its own: closed by its last task
    assert run.stats["feeds"] == 2 and run.stats["feeds_failed"] == 0
    assert run.stats["new_articles"] == run.stats["articles_ok"] == 4
    shown = json.loads(run_cli(["runs", "show", str(run_id)], env))
    assert shown["status"] == "finished" and shown["articles"]["total"] == 4


def test_a_fetch_whose_broker_is_down_records_no_run(
    tmp_path: Path, http_server: LocalHTTPServer, engine: Engine, dead_port: int
) -> None:
    env = _env(tmp_path, f"redis://127.0.0.1:{dead_port}/0")
    feeds = serve_site(http_server)
    done = subprocess.run([*STORYWIRE, "fetch", feeds["world"]], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr  # checked before a run is recorded
    assert "Traceback" not in done.stderr
    assert "cannot reach Redis" in done.stderr
    assert not [r for r in _runs(engine).values() if r.kind == "fetch"]


def test_a_fetch_that_cannot_enqueue_fails(
    tmp_path: Path,
    http_server: LocalHTTPServer,
    engine: Engine,
    redis_server: RedisServer,
    dead_port: int,
) -> None:
    # A Redis that answers (the start-up check passes) but refuses every write: a replica of
    # a primary that is not there is read-only.
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.execute_command("REPLICAOF", "127.0.0.1", str(dead_port))
    try:
        env = _env(tmp_path, redis_server.url)
        feeds = serve_site(http_server)
        done = subprocess.run([*STORYWIRE, "fetch", feeds["world"]], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        client.execute_command("REPLICAOF", "NO", "ONE")
        client.close()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "could not enqueue" in done.stderr
    (run,) = _runs(engine).values()
    assert (run.kind, run.status) == ("fetch", "failed")
    assert run.finished_at is not None
    assert run.stats["enqueued"] == 0 and "read only" in run.stats["error"].lower()
