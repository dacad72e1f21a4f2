"""The broker's redelivery alone completes a task whose worker was SIGKILLed mid-task.

Everything else that recovers lost work is out of reach: no beat (no sweeper, no dispatch),
and a stale-pending time and a feed lease of a day. What is left is ``task_acks_late``: the
message of the killed task was never acknowledged, so Redis gives it to the next worker once
its visibility timeout (5 s here) has passed. Acknowledged on receipt instead, it would be
gone, and the article pending for good.
"""

from __future__ import annotations

import os
import signal
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Article, Run, make_engine
from tests.crash.conftest import flush_broker
from tests.hostile import payloads
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import Process, run_cli, storywire_env, wait_for
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow

PAGE = (
    "<html><head><title>Bridge reopens</title></head><body><article><h1>Bridge reopens</h1>"
    + "<p>The old bridge over the river reopened on Friday after two years of repairs, and "
    "the first buses crossed it in the morning.</p>" * 3 + "</article></body></html>"
)


def test_a_killed_task_is_completed_by_redelivery_alone(
    tmp_path: Path, http_server: LocalHTTPServer, redis_server: RedisServer
) -> None:
    asked, release = threading.Event(), threading.Event()

    def page(req: BaseHTTPRequestHandler) -> None:
        if not asked.is_set():  # the first try: held until its worker is dead
            asked.set()
            release.wait(120)
            req.close_connection = True
            return
        body = PAGE.encode()
        req.send_response(200)
        req.send_header("Content-Type", "text/html; charset=utf-8")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    http_server.add_handler("/page.html", page)
    feed = payloads.rss(payloads.item("Bridge", link=http_server.url("/page.html")))
    http_server.add("/feed.xml", feed, content_type="application/rss+xml")
    flush_broker(redis_server.url)
    env = storywire_env(
        STORYWIRE_DATA_DIR=str(tmp_path / "data"),
        REDIS_URL=redis_server.url,
        STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
        STORYWIRE_HOST_RATE_PER_S="1000",
        STORYWIRE_BROKER_VISIBILITY_TIMEOUT_S="5",
        # Out of reach: the sweeper and the feed lease (and no beat runs at all).
        STORYWIRE_STALE_PENDING_AFTER_S="86400",
        STORYWIRE_DISPATCH_LEASE_S="86400",
    )
    run_cli(["feeds", "add", http_server.url("/feed.xml")], env)
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'storywire.db'}")

    def article() -> Article:
        with engine.connect() as conn:
            return conn.execute(select(Article)).one()  # type: ignore[return-value]

    def run_status() -> str:
        with engine.connect() as conn:
            return str(conn.execute(select(Run.status).where(Run.id == run_id)).scalar_one())

    first = Process(["worker", "--concurrency", "1"], env, tmp_path / "first.log")
    second: Process | None = None
    try:
        run_id = int(run_cli(["fetch", "--all"], env).split()[1])  # enqueued, no process left
        wait_for(asked.is_set, timeout=120, what="the page asked for", processes=(first,))
        os.killpg(first.popen.pid, signal.SIGKILL)  # mid-task: the page is being fetched
        first.popen.wait(30)
        release.set()
        assert article().status == "pending"

        second = Process(["worker", "--concurrency", "1"], env, tmp_path / "second.log")
        wait_for(lambda: article().status != "pending", timeout=180,
                 what="the redelivered task to finish", processes=(second,))  # fmt: skip
        wait_for(lambda: article().story_id is not None, timeout=60, what="its story",
                 processes=(second,))  # fmt: skip
        # The queued fetch's work is done: its run says so. The story task closes the run just
        # after its story's commit, so it is waited for, not read once (a busy machine can
        # show the story first).
        wait_for(lambda: run_status() == "finished", timeout=60, what="the run finished",
                 processes=(second,))  # fmt: skip
        done = article()
    finally:
        release.set()
        first.stop()
        if second is not None:
            second.stop()
        engine.dispose()
        flush_broker(redis_server.url)
    assert (done.status, done.title) == ("ok", "Bridge reopens")
    assert len([r for r in http_server.requests if r.path == "/page.html"]) == 2
