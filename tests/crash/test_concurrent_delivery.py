"""The same task delivered twice at the same time gives one result.

Redis redelivers, the sweeper re-enqueues, a worker killed after its commit but before its
ack runs the task again: two copies of one task may run at the same moment. Here two
threads run the same pipeline step for the same id at once, on SQLite and on PostgreSQL,
with the HTTP server holding both requests until both have arrived, so the two copies
really overlap where it matters (between reading the row and writing it).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import BaseHTTPRequestHandler
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from models import Article, FeedFetch, session_scope
from tests.crash.conftest import change_counts
from tests.crash.site import article, page_html, serve_articles
from tests.support.httpserver import LocalHTTPServer
from worker.pipeline import RetryLater, assign_story_step, process_article, refresh_feed
from worker.pipeline import article as article_pipeline
from worker.resources import Resources
from worker.store import add_feed

pytestmark = pytest.mark.slow

T = TypeVar("T")


def _twice_at_once(call: Callable[[], T]) -> list[T]:
    start = threading.Barrier(2, timeout=120)  # only fails a thread that never started

    def run() -> T:
        start.wait()
        return call()

    with ThreadPoolExecutor(2) as pool:
        return [f.result(timeout=60) for f in [pool.submit(run), pool.submit(run)]]


def _paired(body: bytes, content_type: str) -> Callable[[BaseHTTPRequestHandler], None]:
    """A handler that answers only once two requests for it are waiting (or after 2 s)."""
    gate = threading.Barrier(2, timeout=2)

    def handle(req: BaseHTTPRequestHandler) -> None:
        # If the other copy never fetches (it found the work done), answer anyway.
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait()
        req.send_response(200)
        req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    return handle


def test_refresh_feed_twice_at_once(any_resources: Resources, http_server: LocalHTTPServer) -> None:
    rt = any_resources
    feed_urls, _ = serve_articles(http_server, feeds=1, per_feed=30)
    body = http_server.routes["/feeds/0.xml"].body  # type: ignore[union-attr]
    http_server.add_handler("/feeds/0.xml", _paired(body, "application/rss+xml"))
    with session_scope(rt.sessions) as s:
        feed_id = add_feed(s, feed_urls[0])[0].id

    results = _twice_at_once(lambda: refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id))

    assert len(http_server.requests_to("/feeds/0.xml")) == 2  # both copies really fetched
    # Each entry was created by exactly one of the two copies.
    assert sum(len(r.new_article_ids) for r in results) == 30
    assert change_counts(rt.engine, "article.created") == (30, 30)
    with session_scope(rt.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 30
        assert s.scalar(select(func.count()).select_from(FeedFetch)) == 2


def test_process_article_twice_at_once(
    any_resources: Resources, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = any_resources
    # Timing only: both copies finish extracting, then write at the same moment, so their
    # read-check-write sequences overlap in the database (the race a lock must close). Reset
    # for each article: a barrier broken once (one copy found the work done) stays broken.
    aligned = threading.Barrier(2, timeout=2)
    real_extract = article_pipeline.extract_page

    def extract_then_wait(*args: object, **kwargs: object) -> object:
        page = real_extract(*args, **kwargs)  # type: ignore[arg-type]
        with contextlib.suppress(threading.BrokenBarrierError):
            aligned.wait()
        return page

    monkeypatch.setattr(article_pipeline, "extract_page", extract_then_wait)
    feed_urls, paths = serve_articles(http_server, feeds=1, per_feed=12)
    for index, path in enumerate(paths):
        http_server.add_handler(path, _paired(page_html(article(index)).encode(), "text/html"))
    with session_scope(rt.sessions) as s:
        feed_id = add_feed(s, feed_urls[0])[0].id
    ids = refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id).new_article_ids
    assert len(ids) == 12

    for article_id in ids:
        aligned.reset()
        outcomes = _twice_at_once(
            partial(process_article, rt.sessions, rt.fetcher, rt.settings, article_id)
        )
        # One copy stored the page; the other found it done (before or after fetching).
        assert sorted(o.status for o in outcomes) == ["ok", "skipped"], outcomes

    assert change_counts(rt.engine, "article.updated") == (12, 12)
    with session_scope(rt.sessions) as s:
        assert set(s.scalars(select(Article.status))) == {"ok"}


def test_article_retry_counted_once_per_failure(
    any_resources: Resources, http_server: LocalHTTPServer
) -> None:
    # Two copies hitting a 503 at once: each failed attempt is one real request, so both
    # are counted, but the row never ends up finished twice or with a lost count.
    rt = any_resources
    feed_urls, paths = serve_articles(http_server, feeds=1, per_feed=1)
    http_server.add(paths[0], "busy", status=503, content_type="text/plain")
    with session_scope(rt.sessions) as s:
        feed_id = add_feed(s, feed_urls[0])[0].id
    (article_id,) = refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id).new_article_ids

    def attempt() -> str:
        try:
            return process_article(rt.sessions, rt.fetcher, rt.settings, article_id).status
        except RetryLater:
            return "retry"

    assert _twice_at_once(attempt) == ["retry", "retry"]
    with session_scope(rt.sessions) as s:
        row = s.get(Article, article_id)
        assert row is not None
        assert (row.status, row.attempts, row.error_class) == ("pending", 2, "http_503")


def test_story_step_twice_at_once(any_resources: Resources, http_server: LocalHTTPServer) -> None:
    # Two copies of one syndicated text: whichever order the serialized step runs them in,
    # exactly one is the original and the other points at it, once.
    rt = any_resources
    same = page_html(article(7))
    http_server.add("/a.html", same)
    http_server.add("/b.html", same)
    items = "".join(
        f"<item><title>t{i}</title><link>{http_server.url(p)}</link></item>"
        for i, p in enumerate(("/a.html", "/b.html"))
    )
    feed = f"<rss version='2.0'><channel><title>F</title>{items}</channel></rss>"
    http_server.add("/f.xml", feed, content_type="application/rss+xml")
    with session_scope(rt.sessions) as s:
        feed_id = add_feed(s, http_server.url("/f.xml"))[0].id
    ids = refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id).new_article_ids
    for article_id in ids:
        assert process_article(rt.sessions, rt.fetcher, rt.settings, article_id).status == "ok"

    for _ in range(2):  # the same pair of deliveries, twice over
        for article_id in ids:
            _twice_at_once(partial(assign_story_step, rt.sessions, article_id))

    assert change_counts(rt.engine, "article.duplicate") == (1, 1)
    with session_scope(rt.sessions) as s:
        marks = dict(s.execute(select(Article.id, Article.duplicate_of)).all())
    assert sorted(v is None for v in marks.values()) == [False, True]
