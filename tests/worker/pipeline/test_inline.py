"""run_inline on many hosts at once: real HTTP servers on several loopback addresses, SQLite."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Article, ArticleStatus, session_scope
from tests.e2e.site import STORIES, page_html, rss
from tests.support.httpserver import LocalHTTPServer
from tests.support.services import migrate
from tests.worker.pipeline.conftest import make_settings
from worker.pipeline.inline import run_inline
from worker.resources import Resources, build_resources
from worker.store import add_feed

#: For the tests whose server holds a response until something else happened: no timeout of
#: the fetch may end the wait first, however slow the machine (the settings allow 600 s).
PATIENT: dict[str, object] = {"read_timeout_s": 600.0, "total_timeout_s": 600.0}
#: How long such a server waits for what it waits for: only a broken run waits this long.
HOLD_S = 300.0


@pytest.fixture
def hosts() -> Iterator[list[LocalHTTPServer]]:
    """Six article hosts, 127.0.0.10 to 127.0.0.15 (each its own host to the pipeline)."""
    with ExitStack() as stack:
        yield [stack.enter_context(LocalHTTPServer(f"127.0.0.{10 + i}")) for i in range(6)]


def _resources(tmp_path: Path, url: str, **settings: object) -> Resources:
    migrate(url)
    return build_resources(make_settings(tmp_path, url, **settings))


def _feed(rt: Resources, server: LocalHTTPServer, links: list[str]) -> int:
    items = [(STORIES[i % len(STORIES)], link) for i, link in enumerate(links)]
    server.add("/feed.xml", rss("Feed", items), content_type="application/rss+xml")
    with session_scope(rt.sessions) as s:
        feed, _ = add_feed(s, server.url("/feed.xml"))
        return feed.id


def _articles(rt: Resources) -> dict[str, Article]:
    with session_scope(rt.sessions) as s:
        return {a.url: a for a in s.scalars(select(Article))}


def test_at_most_concurrency_pages_are_fetched_at_once(
    tmp_path: Path, sqlite_url: str, http_server: LocalHTTPServer, hosts: list[LocalHTTPServer]
) -> None:
    limit = 3
    state = {"in_flight": 0, "peak": 0, "open": False}
    lock = threading.Condition()

    def page(request: BaseHTTPRequestHandler) -> None:
        with lock:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
            # Hold the first ones until as many as allowed are in flight, then hold every
            # page a moment longer: a pool larger than the limit would show in the peak.
            state["open"] = state["open"] or state["in_flight"] >= limit
            lock.notify_all()
            if not lock.wait_for(lambda: bool(state["open"]), timeout=HOLD_S):
                state["open"] = True  # the limit was never reached (the peak says so): go on
            lock.wait(0.3)
        host = request.headers["Host"].split(":")[0]
        story = STORIES[int(request.path.rsplit("/", 1)[1]) % len(STORIES)]
        body = page_html(story, f"http://{host}{request.path}").encode()
        request.send_response(200)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
        with lock:
            state["in_flight"] -= 1

    links = []
    for n, server in enumerate(hosts):
        for k in range(2):
            server.add_handler(f"/p/{n * 2 + k}", page)
            links.append(server.url(f"/p/{n * 2 + k}"))
    rt = _resources(tmp_path, sqlite_url, **PATIENT)
    feed_id = _feed(rt, http_server, links)

    summary = run_inline(rt, [feed_id], concurrency=limit)
    rt.close()

    assert state["peak"] == limit  # several hosts at once, never more than asked
    assert (summary.new_articles, summary.articles_ok, summary.pending) == (12, 12, {})


def test_each_host_is_still_paced_by_the_shared_limiter(
    tmp_path: Path, sqlite_url: str, http_server: LocalHTTPServer, hosts: list[LocalHTTPServer]
) -> None:
    # One request per 100 s per host, and no waiting longer than 1 s for a turn: each host
    # gets exactly one page request, however many threads there are.
    links = []
    for server in hosts[:2]:
        for k in range(3):
            server.add(f"/p/{k}", page_html(STORIES[k], server.url(f"/p/{k}")))
            links.append(server.url(f"/p/{k}"))
    rt = _resources(
        tmp_path, sqlite_url, host_rate_per_s=0.01, rate_max_wait_s=1.0, obey_robots=False
    )
    feed_id = _feed(rt, http_server, links)

    summary = run_inline(rt, [feed_id], concurrency=8)
    rt.close()

    for server in hosts[:2]:
        assert len(server.requests) == 1
    assert summary.articles_ok == 2
    assert summary.pending == {"rate_limited": 4}
    pending = [a for a in _articles(rt).values() if a.status == ArticleStatus.PENDING]
    assert all(a.error_class == "rate_limited" and a.attempts == 0 for a in pending)


def test_a_host_failing_at_dns_or_connect_is_skipped_for_the_rest_of_the_run(
    tmp_path: Path,
    sqlite_url: str,
    http_server: LocalHTTPServer,
    hosts: list[LocalHTTPServer],
    dead_port: int,
) -> None:
    live = hosts[0]
    for k in range(2):
        live.add(f"/p/{k}", page_html(STORIES[k], live.url(f"/p/{k}")))
    refused = f"http://127.0.0.3:{dead_port}"
    links = [
        *(f"http://no-such-host.invalid/p/{k}" for k in range(3)),
        *(f"{refused}/p/{k}" for k in range(2)),
        *(live.url(f"/p/{k}") for k in range(2)),
    ]
    rt = _resources(tmp_path, sqlite_url)
    feed_id = _feed(rt, http_server, links)

    summary = run_inline(rt, [feed_id], concurrency=4)
    rt.close()

    assert summary.unreachable_hosts == {"no-such-host.invalid": "dns", "127.0.0.3": "connect"}
    assert summary.pending == {"dns": 3, "connect": 2}
    assert (summary.articles_ok, summary.articles_failed) == (2, 0)
    rows = _articles(rt)
    for prefix, reason in (("http://no-such-host.invalid/", "dns"), (refused, "connect")):
        mine = [a for u, a in rows.items() if u.startswith(prefix)]
        assert {(a.status, a.error_class) for a in mine} == {(ArticleStatus.PENDING, reason)}
        # One article of the host was tried; the others were not, and say why.
        assert sum(a.attempts for a in mine) == 1
        assert Counter("not tried" in (a.error or "") for a in mine) == Counter(
            {True: len(mine) - 1, False: 1}
        )
    # Nothing of the dead hosts reached the live one, and it got both pages.
    assert sorted(r.path for r in live.requests) == ["/p/0", "/p/1", "/robots.txt"]


def test_a_feed_read_after_its_host_failed_does_not_try_it_again(
    tmp_path: Path, sqlite_url: str, hosts: list[LocalHTTPServer]
) -> None:
    rt = _resources(tmp_path, sqlite_url, **PATIENT)
    first = _feed(rt, hosts[0], ["http://no-such-host.invalid/a"])
    body = rss("Late", [(STORIES[0], "http://no-such-host.invalid/b")]).encode()
    tried = select(Article.attempts).where(Article.url == "http://no-such-host.invalid/a")

    def late_feed(request: BaseHTTPRequestHandler) -> None:
        # Answer once the first feed's article has failed at DNS: this feed's article then
        # arrives for a host already known to be unreachable.
        deadline = time.monotonic() + HOLD_S
        while time.monotonic() < deadline:
            with session_scope(rt.sessions) as s:
                if s.scalar(tried):
                    break
            time.sleep(0.05)
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    hosts[1].add_handler("/late.xml", late_feed)
    with session_scope(rt.sessions) as s:
        second = add_feed(s, hosts[1].url("/late.xml"))[0].id

    summary = run_inline(rt, [first, second], concurrency=2)
    rt.close()

    assert summary.pending == {"dns": 2}
    rows = _articles(rt)
    assert rows["http://no-such-host.invalid/a"].attempts == 1
    assert rows["http://no-such-host.invalid/b"].attempts == 0
    assert "unreachable (dns)" in (rows["http://no-such-host.invalid/b"].error or "")


def test_concurrency_below_one_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    rt = _resources(tmp_path, sqlite_url)
    with pytest.raises(ValueError, match="at least 1"):
        run_inline(rt, [], concurrency=0)
    rt.close()


def test_the_threads_take_the_hosts_in_turn(
    tmp_path: Path, sqlite_url: str, http_server: LocalHTTPServer, hosts: list[LocalHTTPServer]
) -> None:
    seen: list[str] = []

    def page(request: BaseHTTPRequestHandler) -> None:
        host = request.headers["Host"].split(":")[0]
        seen.append(host)
        body = page_html(STORIES[0], f"http://{host}{request.path}").encode()
        request.send_response(200)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    links = []
    for server in hosts[:2]:
        for k in range(3):
            server.add_handler(f"/p/{k}", page)
            links.append(server.url(f"/p/{k}"))
    rt = _resources(tmp_path, sqlite_url, obey_robots=False)
    feed_id = _feed(rt, http_server, links)

    run_inline(rt, [feed_id], concurrency=1)
    rt.close()

    # One thread: a host's next page waits behind the other host's, not for its own queue.
    assert len(seen) == 6
    assert set(seen[0::2]) != set(seen[1::2])
    assert len(set(seen[0::2])) == len(set(seen[1::2])) == 1


def test_the_story_step_runs_while_pages_come_in(
    tmp_path: Path, sqlite_url: str, http_server: LocalHTTPServer, hosts: list[LocalHTTPServer]
) -> None:
    rt = _resources(tmp_path, sqlite_url, story_batch=2, **PATIENT)
    has_story = select(Article.id).where(Article.story_id.is_not(None)).limit(1)
    served: list[bool] = []  # per page: did a story exist when it was answered?

    def page(request: BaseHTTPRequestHandler) -> None:
        # The last page answers once a story exists (or gives up after HOLD_S, before the
        # read timeout): a run that assigned stories only at its end would have none by then.
        deadline = time.monotonic() + (HOLD_S if len(served) == 3 else 0)
        while time.monotonic() < deadline:
            with session_scope(rt.sessions) as s:
                if s.scalar(has_story) is not None:
                    break
            time.sleep(0.1)
        with session_scope(rt.sessions) as s:
            served.append(s.scalar(has_story) is not None)
        k = int(request.path.rsplit("/", 1)[1])
        body = page_html(STORIES[k], f"http://127.0.0.10{request.path}").encode()
        request.send_response(200)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    server = hosts[0]
    for k in range(4):
        server.add_handler(f"/p/{k}", page)
    feed_id = _feed(rt, http_server, [server.url(f"/p/{k}") for k in range(4)])

    summary = run_inline(rt, [feed_id], concurrency=2)
    rt.close()

    assert served[0] is False and served[-1] is True
    assert summary.articles_ok == 4
    assert all(a.story_id is not None for a in _articles(rt).values())
