"""A page that kills its worker, or runs past the task time limit, every time it is tried: it
is failed with the reason after ``STORYWIRE_MAX_UNFINISHED_TRIES`` tries, not delivered again
forever (acks_late + reject_on_worker_lost put a killed task back on the queue at once).

A real ``storywire worker`` (one pool process) on Redis and a SQLite database; the page's
handler on the local server SIGKILLs the pool process that asks for it (what the OOM killer
does to a worker that a page blew up), or never answers.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from celery import Celery

from models import Article, session_scope
from tests.crash.conftest import flush_broker
from tests.hostile import payloads
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import Process, storywire_env, wait_for
from tests.support.services import RedisServer, migrate
from tests.worker.pipeline.conftest import make_settings
from worker.pipeline import refresh_feed
from worker.resources import Resources, build_resources
from worker.store import add_feed

pytestmark = pytest.mark.slow

FEED_TEXT = "What the feed said about the page."


@dataclass
class Setup:
    rt: Resources
    env: dict[str, str]
    article_id: int
    tmp_path: Path
    redis_url: str

    def start_worker(self) -> Process:
        return Process(
            ["worker", "--concurrency", "1", "--queues", "articles"],
            self.env,
            self.tmp_path / "worker.log",
        )

    def send_fetch(self) -> None:
        client = Celery("poison-test", broker=self.redis_url)
        try:
            client.send_task("worker.tasks.fetch_article", args=[self.article_id], queue="articles")
        finally:
            client.close()

    def article(self) -> Article:
        with session_scope(self.rt.sessions) as s:
            article = s.get(Article, self.article_id)
            assert article is not None
            s.expunge(article)
            return article


@pytest.fixture
def setup(
    tmp_path: Path, http_server: LocalHTTPServer, redis_server: RedisServer
) -> Iterator[Setup]:
    """One pending article whose page is /page.html, in a SQLite database a worker can use."""
    url = f"sqlite:///{tmp_path / 'data' / 'storywire.db'}"
    (tmp_path / "data").mkdir()
    migrate(url)
    rt = build_resources(make_settings(tmp_path, url))
    doc = payloads.rss(
        payloads.item("Page", link=http_server.url("/page.html"), description=FEED_TEXT)
    )
    http_server.add("/feed.xml", doc, content_type="application/rss+xml")
    with session_scope(rt.sessions) as s:
        feed_id = add_feed(s, http_server.url("/feed.xml"))[0].id
    (article_id,) = refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id).new_article_ids
    flush_broker(redis_server.url)
    env = storywire_env(
        STORYWIRE_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=url,
        REDIS_URL=redis_server.url,
        STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
        STORYWIRE_HOST_RATE_PER_S="1000",
        STORYWIRE_MAX_UNFINISHED_TRIES="3",
    )
    yield Setup(rt, env, article_id, tmp_path, redis_server.url)
    rt.close()
    flush_broker(redis_server.url)


def _pool_children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_a_page_that_kills_its_worker_is_failed_after_the_limit(
    setup: Setup, http_server: LocalHTTPServer
) -> None:
    worker = setup.start_worker()
    killed: list[int] = []

    def kill_the_asker(req: BaseHTTPRequestHandler) -> None:
        # One pool process: the one asking for this page. SIGKILL, as the OOM killer would.
        for child in _pool_children(worker.popen.pid):
            killed.append(child)
            os.kill(child, signal.SIGKILL)
        req.close_connection = True

    http_server.add_handler("/page.html", kill_the_asker)
    try:
        setup.send_fetch()
        wait_for(lambda: setup.article().status != "pending", timeout=180,
                 what="the article to be given up", processes=(worker,))  # fmt: skip
        assert worker.alive()  # the worker itself rode it out: only pool processes died
    finally:
        worker.stop()
    article = setup.article()
    assert (article.status, article.error_class) == ("failed", "worker_lost")
    assert "3 tries" in (article.error or "")
    assert article.text == FEED_TEXT  # the feed's text is kept
    assert article.unfinished_tries == 0
    page_requests = [r for r in http_server.requests if r.path == "/page.html"]
    assert len(page_requests) == len(killed) == 3  # then given up without a 4th fetch


def test_a_page_past_the_time_limit_is_failed_after_the_limit(
    setup: Setup, http_server: LocalHTTPServer
) -> None:
    setup.env.update(STORYWIRE_TASK_SOFT_TIME_LIMIT_S="2", STORYWIRE_TASK_TIME_LIMIT_S="60")
    release = threading.Event()

    def never_answer(req: BaseHTTPRequestHandler) -> None:
        release.wait(120)  # far beyond the soft limit; released when the test ends
        req.close_connection = True

    http_server.add_handler("/page.html", never_answer)
    worker = setup.start_worker()
    try:
        setup.send_fetch()
        wait_for(lambda: setup.article().status != "pending", timeout=180,
                 what="the article to be given up", processes=(worker,))  # fmt: skip
        log = worker.output()
    finally:
        release.set()
        worker.stop()
    article = setup.article()
    assert (article.status, article.error_class) == ("failed", "time_limit"), article.error
    assert "time limit" in (article.error or "")
    assert article.text == FEED_TEXT
    assert article.attempts == 0  # no transient fetch failure was counted: it was our limit
    page_requests = [r for r in http_server.requests if r.path == "/page.html"]
    assert 1 <= len(page_requests) <= 3
    assert "exited with" not in log  # the soft limit interrupted the task, nothing was killed
