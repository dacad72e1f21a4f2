"""refresh_feed against a real local HTTP server and a real SQLite database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler

import pytest
from sqlalchemy import event, func, select, update

from models import (
    Article,
    ArticleSource,
    Change,
    Feed,
    FeedFetch,
    HostHealth,
    session_scope,
    utcnow,
)
from tests.e2e.site import serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.support.sql import sql_statements
from worker.fetch import Fetcher, HostRateLimiter
from worker.pipeline import feed as feed_pipeline
from worker.pipeline import not_modified, refresh_feed
from worker.resources import Resources
from worker.scheduler import claim_due_feeds
from worker.store import add_feed


def _add(rt: Resources, url: str) -> int:
    with session_scope(rt.sessions) as s:
        feed, _ = add_feed(s, url)
        return feed.id


def _refresh(rt: Resources, feed_id: int):  # type: ignore[no-untyped-def]
    return refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id)


def test_new_entries_become_pending_articles_once(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    feeds = serve_site(http_server)
    feed_id = _add(resources, feeds["world"])

    first = _refresh(resources, feed_id)
    assert first.outcome == "ok"
    assert first.entries_seen == 3
    assert len(first.new_article_ids) == 3

    second = _refresh(resources, feed_id)  # the server answers If-None-Match with 304
    assert second.outcome == "not_modified"
    assert second.new_article_ids == []
    assert http_server.requests_to("/feeds/world.xml")[1].headers["if-none-match"] == '"world-v1"'

    with session_scope(resources.sessions) as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        assert feed.etag == '"world-v1"'
        assert feed.title == "World"
        assert feed.status == "active"
        assert feed.next_check_at > utcnow() + timedelta(seconds=60)
        assert s.scalar(select(func.count()).select_from(Article)) == 3
        assert {a.status for a in s.scalars(select(Article))} == {"pending"}
        outcomes = s.scalars(select(FeedFetch.outcome).order_by(FeedFetch.id)).all()
        assert outcomes == ["ok", "not_modified"]


def test_refetching_a_changed_feed_without_validators_adds_nothing(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    feeds = serve_site(http_server)
    http_server.routes["/feeds/world.xml"].headers.pop("ETag")  # type: ignore[union-attr]
    feed_id = _add(resources, feeds["world"])
    assert len(_refresh(resources, feed_id).new_article_ids) == 3
    again = _refresh(resources, feed_id)
    assert again.outcome == "ok"
    assert again.new_article_ids == []


def test_article_linked_from_two_feeds_is_stored_once(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    feeds = serve_site(http_server)
    world, local = _add(resources, feeds["world"]), _add(resources, feeds["local"])
    assert len(_refresh(resources, world).new_article_ids) == 3
    # The local feed links a3 with tracking parameters: same canonical URL, no new row.
    assert len(_refresh(resources, local).new_article_ids) == 1
    with session_scope(resources.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 4
        a3 = s.scalars(select(Article).where(Article.canonical_url.endswith("/a3.html"))).one()
        feeds_of_a3 = s.scalars(
            select(ArticleSource.feed_id).where(ArticleSource.article_id == a3.id)
        ).all()
        assert sorted(feeds_of_a3) == sorted([world, local])
        kinds = s.scalars(select(Change.kind)).all()
        assert kinds.count("article.created") == 4
        assert kinds.count("article.source_added") == 1


def test_server_error_is_recorded_and_backs_off(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    http_server.add("/broken.xml", "oops", status=500, content_type="text/plain")
    feed_id = _add(resources, http_server.url("/broken.xml"))
    result = _refresh(resources, feed_id)
    assert result.outcome == "error"
    with session_scope(resources.sessions) as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        assert feed.status == "erroring"
        assert feed.consecutive_errors == 1
        assert feed.last_status_code == 500
        assert feed.last_error_class
        assert feed.next_check_at > utcnow()
        log = s.scalars(select(FeedFetch)).one()
        assert (log.outcome, log.status_code) == ("error", 500)


def test_gone_feed_is_never_polled_again(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    http_server.add("/gone.xml", "gone", status=410, content_type="text/plain")
    feed_id = _add(resources, http_server.url("/gone.xml"))
    assert _refresh(resources, feed_id).outcome == "gone"
    assert _refresh(resources, feed_id).outcome == "skipped"
    assert len(http_server.requests_to("/gone.xml")) == 1
    with session_scope(resources.sessions) as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None and feed.status == "gone"
        assert s.scalars(select(Change.kind).where(Change.kind == "feed.gone")).one()


def test_html_page_instead_of_feed_is_an_error_not_articles(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    http_server.add("/page.html", "<html><body><h1>Welcome</h1><p>Hi.</p></body></html>")
    feed_id = _add(resources, http_server.url("/page.html"))
    result = _refresh(resources, feed_id)
    assert result.outcome == "error"
    assert result.error_class
    with session_scope(resources.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 0
        feed = s.get(Feed, feed_id)
        assert feed is not None and feed.last_error


def test_entry_without_link_keeps_the_feeds_text(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    body = """<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
    <item><title>Linkless note</title><guid isPermaLink="false">note-1</guid>
    <description>Only the feed has this text about the ferry timetable.</description></item>
    </channel></rss>"""
    http_server.add("/notes.xml", body, content_type="application/rss+xml")
    feed_id = _add(resources, http_server.url("/notes.xml"))
    first = _refresh(resources, feed_id)
    assert len(first.new_article_ids) == 1
    assert _refresh(resources, feed_id).new_article_ids == []  # stable key across polls


# --- health and schedule ---------------------------------------------------------------------

RSS_ONE = """<?xml version="1.0"?><rss version="2.0"><channel><title>One</title>{ttl}
<item><title>Only item</title><link>http://127.0.0.1:{port}/one.html</link>
<guid>one</guid><pubDate>Mon, 02 Mar 2026 08:30:00 GMT</pubDate></item>
</channel></rss>"""


def _feed(rt: Resources, feed_id: int) -> Feed:
    with session_scope(rt.sessions) as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        return feed


def _fetch_log(rt: Resources, feed_id: int) -> list[FeedFetch]:
    with session_scope(rt.sessions) as s:
        return list(
            s.scalars(select(FeedFetch).where(FeedFetch.feed_id == feed_id).order_by(FeedFetch.id))
        )


def _due_in(resources: Resources, feed: Feed) -> float:
    """Seconds from the feed's last fetch (as logged) to its next check: the delay the
    refresh scheduled, the same however long ago a busy machine made that fetch."""
    last = _fetch_log(resources, feed.id)[-1]
    return (feed.next_check_at - last.started_at).total_seconds()


def test_every_fetch_leaves_a_trace_on_the_feed_and_in_the_log(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    feeds = serve_site(http_server)
    feed_id = _add(resources, feeds["world"])
    _refresh(resources, feed_id)
    feed = _feed(resources, feed_id)
    body = http_server.routes["/feeds/world.xml"].body  # type: ignore[union-attr]
    assert (feed.last_status_code, feed.last_bytes) == (200, len(body))
    assert (feed.last_entries_seen, feed.last_entries_new) == (3, 3)
    assert feed.last_duration_ms is not None and feed.last_duration_ms >= 0
    assert feed.last_fetched_at == feed.last_success_at
    (row,) = _fetch_log(resources, feed_id)
    assert (row.outcome, row.status_code, row.bytes) == ("ok", 200, len(body))
    assert (row.entries_seen, row.entries_new, row.error_class, row.error_message) == (
        3,
        3,
        None,
        None,
    )
    assert row.duration_ms == feed.last_duration_ms

    http_server.add("/feeds/world.xml", "down", status=502, content_type="text/plain")
    _refresh(resources, feed_id)
    feed = _feed(resources, feed_id)
    assert (feed.last_status_code, feed.last_error_class, feed.last_error) == (
        502,
        "http_502",
        "HTTP 502",
    )
    assert feed.last_success_at is not None and feed.last_fetched_at > feed.last_success_at
    row = _fetch_log(resources, feed_id)[-1]
    assert (row.outcome, row.status_code, row.error_class, row.error_message) == (
        "error",
        502,
        "http_502",
        "HTTP 502",
    )


@pytest.mark.parametrize(
    ("ttl", "headers", "floor_s"),
    [
        ("<ttl>180</ttl>", {}, 3 * 3600),  # RSS TTL in minutes
        ("", {"Cache-Control": "public, max-age=7200"}, 7200),
        ("", {"Cache-Control": "s-maxage=5400, max-age=60"}, 5400),
        ("<ttl>30</ttl>", {"Cache-Control": "max-age=4000"}, 4000),  # the larger one wins
        ("", {"Retry-After": "6000"}, 6000),
    ],
)
def test_next_poll_is_never_sooner_than_the_publisher_asked(
    resources: Resources,
    http_server: LocalHTTPServer,
    ttl: str,
    headers: dict[str, str],
    floor_s: int,
) -> None:
    body = RSS_ONE.format(ttl=ttl, port=http_server.port)
    http_server.add("/f.xml", body, content_type="application/rss+xml", headers=headers)
    feed_id = _add(resources, http_server.url("/f.xml"))
    assert _refresh(resources, feed_id).outcome == "ok"
    feed = _feed(resources, feed_id)
    assert feed.check_interval_s >= floor_s
    assert floor_s <= _due_in(resources, feed) <= feed.check_interval_s


def test_max_age_also_holds_for_a_304(resources: Resources, http_server: LocalHTTPServer) -> None:
    body = RSS_ONE.format(ttl="", port=http_server.port).encode()

    def handle(req: BaseHTTPRequestHandler) -> None:
        # A 304 repeats the response's Cache-Control (RFC 9110, 15.4.5).
        fresh = req.headers.get("If-None-Match") == '"1"'
        req.send_response(304 if fresh else 200)
        req.send_header("ETag", '"1"')
        req.send_header("Cache-Control", "max-age=40000" if fresh else "max-age=60")
        req.send_header("Content-Length", "0" if fresh else str(len(body)))
        req.end_headers()
        if not fresh:
            req.wfile.write(body)

    http_server.add_handler("/f.xml", handle)
    feed_id = _add(resources, http_server.url("/f.xml"))
    assert _refresh(resources, feed_id).outcome == "ok"
    interval = _feed(resources, feed_id).check_interval_s
    assert _refresh(resources, feed_id).outcome == "not_modified"
    feed = _feed(resources, feed_id)
    assert feed.check_interval_s == interval  # a 304 does not re-learn the rhythm
    assert _due_in(resources, feed) >= 40000


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("as_date", [False, True])
def test_retry_after_is_respected_on_the_schedule(
    resources: Resources, http_server: LocalHTTPServer, status: int, as_date: bool
) -> None:
    wait = 5 * 3600
    value = (
        format_datetime(datetime.now(UTC) + timedelta(seconds=wait), usegmt=True)
        if as_date
        else str(wait)
    )
    http_server.add(
        "/busy.xml", "slow down", status=status, content_type="text/plain",
        headers={"Retry-After": value},
    )  # fmt: skip
    feed_id = _add(resources, http_server.url("/busy.xml"))
    assert _refresh(resources, feed_id).outcome == "error"
    feed = _feed(resources, feed_id)
    assert feed.last_status_code == status
    assert feed.consecutive_errors == 1
    # A date: less whatever time passed between writing it and reading the answer.
    assert wait - (120 if as_date else 0) <= _due_in(resources, feed) <= wait


def test_retry_after_is_clamped_to_the_backoff_cap(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    http_server.add(
        "/busy.xml", "later", status=503, content_type="text/plain",
        headers={"Retry-After": str(30 * 86_400)},
    )  # fmt: skip
    feed_id = _add(resources, http_server.url("/busy.xml"))
    _refresh(resources, feed_id)
    assert _due_in(resources, _feed(resources, feed_id)) <= resources.settings.max_backoff_s


def test_a_failing_feed_backs_off_up_to_the_cap_and_is_never_dropped(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    http_server.add("/flaky.xml", "broken", status=500, content_type="text/plain")
    feed_id = _add(resources, http_server.url("/flaky.xml"))
    base = _feed(resources, feed_id).check_interval_s
    cap = resources.settings.max_backoff_s
    delays = []
    for n in range(1, 31):
        assert _refresh(resources, feed_id).outcome == "error"
        feed = _feed(resources, feed_id)
        assert (feed.status, feed.consecutive_errors) == ("erroring", n)
        nominal = min(base * 2 ** (n - 1), cap)
        delay = _due_in(resources, feed)
        # Exponential, with at most 20 % jitter below the nominal delay, never above the cap.
        assert nominal * 0.8 - 5 <= delay <= nominal + 1
        delays.append(delay)
        # Still scheduled: once its time comes, dispatch picks it up like any other feed.
        with session_scope(resources.sessions) as s:
            assert claim_due_feeds(s, utcnow(), per_host=5, limit=10, lease_s=1) == []
            later = feed.next_check_at + timedelta(seconds=1)
            assert claim_due_feeds(s, later, per_host=5, limit=10, lease_s=1) == [feed_id]
    assert max(delays) <= cap + 1
    assert sum(1 for d in delays if d >= cap * 0.8 - 5) >= 20  # reached the cap and stayed
    assert len({round(d) for d in delays[10:]}) > 1  # jittered, not in lockstep
    assert len(_fetch_log(resources, feed_id)) == 30

    http_server.add("/flaky.xml", RSS_ONE.format(ttl="", port=http_server.port),
                    content_type="application/rss+xml")  # fmt: skip
    assert _refresh(resources, feed_id).outcome == "ok"
    feed = _feed(resources, feed_id)
    assert (feed.status, feed.consecutive_errors, feed.last_error) == ("active", 0, None)
    assert _due_in(resources, feed) <= feed.check_interval_s


def test_when_every_host_fails_at_once_it_is_our_network(
    resources: Resources, http_server: LocalHTTPServer, dead_port: int
) -> None:
    # 127.0.0.2..7 are loopback addresses nothing listens on: distinct hosts whose connect
    # is refused, as every host would be with our network down.
    http_server.add("/ok.xml", RSS_ONE.format(ttl="", port=http_server.port),
                    content_type="application/rss+xml")  # fmt: skip
    healthy = _add(resources, http_server.url("/ok.xml"))
    port = dead_port
    dead = [_add(resources, f"http://127.0.0.{i}:{port}/feed.xml") for i in range(2, 8)]
    assert resources.settings.outage_min_hosts == 3

    assert _refresh(resources, healthy).outcome == "ok"
    outcomes = [_refresh(resources, feed_id).outcome for feed_id in dead[:4]]
    # Two hosts down while the network just worked: those feeds' problem. The third host in
    # a row with no answer from anyone: our outage, counted against nobody.
    assert outcomes == ["error", "error", "offline", "offline"]
    assert [_feed(resources, f).consecutive_errors for f in dead[:4]] == [1, 1, 0, 0]
    offline = _feed(resources, dead[2])
    assert offline.status == "active"
    assert offline.last_error_class == "connect"  # still shown: the operator sees why
    assert 0.8 * offline.check_interval_s <= _due_in(resources, offline) <= offline.check_interval_s
    assert _fetch_log(resources, dead[2])[-1].outcome == "offline"
    # An erroring feed keeps its count (and back-off level) through the outage.
    assert _refresh(resources, dead[0]).outcome == "offline"
    assert _feed(resources, dead[0]).consecutive_errors == 1

    # The network answers again: failures count again, from zero hosts.
    assert _refresh(resources, healthy).outcome == "ok"
    assert _refresh(resources, dead[4]).outcome == "error"
    assert _feed(resources, dead[4]).consecutive_errors == 1


def test_one_dead_host_with_many_feeds_is_not_an_outage(
    resources: Resources, http_server: LocalHTTPServer, dead_port: int
) -> None:
    port = dead_port
    feed_ids = [_add(resources, f"http://127.0.0.9:{port}/feed{i}.xml") for i in range(6)]
    assert {_refresh(resources, f).outcome for f in feed_ids} == {"error"}
    assert {_feed(resources, f).consecutive_errors for f in feed_ids} == {1}


def test_http_errors_prove_the_network_works(
    resources: Resources, http_server: LocalHTTPServer, dead_port: int
) -> None:
    # A 404 from one host is an answer: the connect failures after it are counted.
    http_server.add("/missing.xml", "no", status=404, content_type="text/plain")
    port = dead_port
    dead = [_add(resources, f"http://127.0.0.{i}:{port}/f.xml") for i in range(2, 4)]
    missing = _add(resources, http_server.url("/missing.xml"))
    assert _refresh(resources, dead[0]).outcome == "error"
    assert _refresh(resources, dead[1]).outcome == "error"
    assert _refresh(resources, missing).outcome == "error"
    third = _add(resources, f"http://127.0.0.4:{port}/f.xml")
    assert _refresh(resources, third).outcome == "error"  # only one host since the 404


def test_permanent_redirect_is_adopted_only_when_it_repeats(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    body = RSS_ONE.format(ttl="", port=http_server.port)
    http_server.add("/new.xml", body, content_type="application/rss+xml")
    http_server.add("/old.xml", status=301, headers={"Location": "/new.xml"})
    old_url, new_url = http_server.url("/old.xml"), http_server.url("/new.xml")
    feed_id = _add(resources, old_url)

    assert _refresh(resources, feed_id).outcome == "ok"  # content came through the redirect
    feed = _feed(resources, feed_id)
    assert (feed.url, feed.redirect_url, feed.redirect_count) == (old_url, new_url, 1)

    # The old URL answers directly again: the one-off move is forgotten.
    http_server.add("/old.xml", body, content_type="application/rss+xml")
    _refresh(resources, feed_id)
    feed = _feed(resources, feed_id)
    assert (feed.url, feed.redirect_url, feed.redirect_count) == (old_url, None, 0)

    http_server.add("/old.xml", status=308, headers={"Location": "/new.xml"})
    _refresh(resources, feed_id)
    assert _feed(resources, feed_id).url == old_url
    _refresh(resources, feed_id)  # the same move, a second time in a row: adopted
    feed = _feed(resources, feed_id)
    assert (feed.url, feed.redirect_url, feed.redirect_count) == (new_url, None, 0)
    before = len(http_server.requests_to("/old.xml"))
    _refresh(resources, feed_id)
    assert len(http_server.requests_to("/old.xml")) == before  # polled at its new home
    with session_scope(resources.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 1  # nothing duplicated


def test_temporary_redirects_never_move_the_feed(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    http_server.add("/new.xml", RSS_ONE.format(ttl="", port=http_server.port),
                    content_type="application/rss+xml")  # fmt: skip
    http_server.add("/old.xml", status=302, headers={"Location": "/new.xml"})
    feed_id = _add(resources, http_server.url("/old.xml"))
    for _ in range(3):
        assert _refresh(resources, feed_id).outcome == "ok"
    feed = _feed(resources, feed_id)
    assert (feed.url, feed.redirect_url) == (http_server.url("/old.xml"), None)


def test_redirect_to_an_already_registered_feed_keeps_both(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    http_server.add("/new.xml", RSS_ONE.format(ttl="", port=http_server.port),
                    content_type="application/rss+xml")  # fmt: skip
    http_server.add("/old.xml", status=301, headers={"Location": "/new.xml"})
    old = _add(resources, http_server.url("/old.xml"))
    new = _add(resources, http_server.url("/new.xml"))
    for _ in range(3):
        _refresh(resources, old)
    assert _feed(resources, old).url == http_server.url("/old.xml")
    assert _feed(resources, new).url == http_server.url("/new.xml")


def test_our_own_rate_limit_defers_without_touching_the_last_fetch(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    feeds = serve_site(http_server)
    feed_id = _add(resources, feeds["world"])
    _refresh(resources, feed_id)
    before = _feed(resources, feed_id)
    slow = resources.settings.model_copy(update={"host_rate_per_s": 0.01, "rate_max_wait_s": 0.1})
    with Fetcher(slow, rate_limiter=HostRateLimiter(0.01, max_wait_s=0.1)) as fetcher:
        fetcher.fetch(http_server.url("/news/a1.html"))  # takes the host's only slot
        result = refresh_feed(resources.sessions, fetcher, slow, feed_id)
    assert result.outcome == "deferred"
    feed = _feed(resources, feed_id)
    assert feed.last_fetched_at == before.last_fetched_at
    assert feed.last_status_code == 200
    assert feed.consecutive_errors == 0
    assert 0 < _due_in(resources, feed) <= 100 * 1.02 + 1  # when the slot frees (2 % margin)
    assert _fetch_log(resources, feed_id)[-1].outcome == "deferred"


def test_an_unexpected_error_is_recorded_not_raised(
    resources: Resources, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A parser bug cannot be produced on demand: this fault is injected.
    def broken_parser(*args: object, **kwargs: object) -> None:
        raise RuntimeError("parser fell over")

    monkeypatch.setattr(feed_pipeline, "parse_feed", broken_parser)
    feeds = serve_site(http_server)
    feed_id = _add(resources, feeds["world"])
    result = _refresh(resources, feed_id)
    assert (result.outcome, result.error_class) == ("error", "internal:RuntimeError")
    feed = _feed(resources, feed_id)
    assert (feed.status, feed.consecutive_errors, feed.last_error) == (
        "erroring",
        1,
        "parser fell over",
    )
    assert feed.next_check_at > utcnow()


def test_the_same_feed_refreshed_twice_at_once_stores_each_entry_once(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    feeds = serve_site(http_server)
    feed_id = _add(resources, feeds["world"])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: _refresh(resources, feed_id), range(4)))
    assert sum(len(r.new_article_ids) for r in results) == 3
    with session_scope(resources.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 3
        kinds = s.scalars(select(Change.kind)).all()
        assert kinds.count("article.created") == 3
    assert len(_fetch_log(resources, feed_id)) == 4


def test_atom_entry_dated_only_by_updated_gets_that_date(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    body = """<?xml version="1.0" encoding="utf-8"?>
    <feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>urn:a</id>
    <updated>2026-03-02T08:30:00Z</updated>
    <entry><title>Only updated</title><id>urn:a:1</id>
    <link href="https://news.example/only-updated"/>
    <updated>2026-03-02T08:30:00Z</updated></entry></feed>"""
    http_server.add("/atom.xml", body, content_type="application/atom+xml")
    feed_id = _add(resources, http_server.url("/atom.xml"))
    [article_id] = _refresh(resources, feed_id).new_article_ids
    with session_scope(resources.sessions) as s:
        article = s.get(Article, article_id)
        assert article is not None
        assert article.published_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
        assert article.published_source == "feed"


def test_a_feeds_entries_are_stored_in_a_few_statements_not_three_per_entry(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    def rss(links: list[str]) -> str:
        items = "".join(f"<item><title>T {u}</title><link>{u}</link></item>" for u in links)
        return f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'

    links = [f"https://news.example/{i}" for i in range(250)]
    # Two feeds: the second repeats an entry of its own and links 100 of the first's pages.
    http_server.add("/a.xml", rss(links), content_type="application/rss+xml")
    http_server.add("/b.xml", rss([*links[:100], links[0], "https://news.example/new"]),
                    content_type="application/rss+xml")  # fmt: skip
    first, second = (
        _add(resources, http_server.url("/a.xml")),
        _add(resources, http_server.url("/b.xml")),
    )
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "SELECT", "UPDATE")):
            statements.append(statement)

    event.listen(resources.engine, "before_cursor_execute", seen)
    try:
        created = _refresh(resources, first).new_article_ids
        per_first = len(statements)
        again = _refresh(resources, second).new_article_ids
    finally:
        event.remove(resources.engine, "before_cursor_execute", seen)

    assert len(created) == 250 and created == sorted(created)
    assert per_first <= 15  # 250 entries in chunks of 200: was 3 statements per entry
    assert len(again) == 1
    with session_scope(resources.sessions) as s:
        kinds = s.execute(
            select(Change.kind, func.count()).group_by(Change.kind)
        ).all()  # fmt: skip
        sources = s.scalar(select(func.count()).select_from(ArticleSource))
        # Oldest (last listed) first: the first entry of the feed got the highest id.
        newest = s.scalar(select(Article.id).where(Article.url == links[0]))
    assert dict(kinds)["article.created"] == 251
    assert dict(kinds)["article.source_added"] == 100  # the repeated entry adds nothing
    assert sources == 250 + 101
    assert newest == max(created)


def test_an_unchanged_feed_is_polled_in_three_statements_two_on_postgres(
    rt: Resources, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The host's answer of the first poll stays fresh however long a busy machine takes to
    # the second one (the rule's own age is tested below).
    monkeypatch.setattr(not_modified, "DEFAULT_HOST_OK_FRESH_S", 3600.0)
    feed_id = _add(rt, serve_site(http_server)["world"])
    assert _refresh(rt, feed_id).outcome == "ok"
    with sql_statements(rt.engine) as statements:
        again = _refresh(rt, feed_id)  # 304; the host answered a moment ago
    assert again.outcome == "not_modified"
    # The read, then the feed's update and the fetch log: one statement on Postgres.
    assert len(statements) == (2 if rt.engine.dialect.name == "postgresql" else 3), statements
    with session_scope(rt.sessions) as s:
        assert s.scalars(select(FeedFetch.outcome).order_by(FeedFetch.id)).all() == [
            "ok",
            "not_modified",
        ]
        polled = s.get(Feed, feed_id)
        assert polled is not None and polled.last_status_code == 304
        assert polled.status == "active" and polled.last_entries_new == 0


def test_a_304_for_a_feed_removed_meanwhile_logs_nothing(
    rt: Resources, http_server: LocalHTTPServer
) -> None:
    feed_id = _add(rt, serve_site(http_server)["world"])
    _refresh(rt, feed_id)
    with session_scope(rt.sessions) as s:
        logged = s.scalars(select(FeedFetch.id)).all()
    response = rt.fetcher.fetch(serve_site(http_server)["world"])  # stands for the 304
    with session_scope(rt.sessions) as s:  # a feed id no row has: removed meanwhile
        stored = not_modified.store_not_modified(
            s, feed_id + 1, 900, response, duration_ms=3, settings=rt.settings
        )
    assert stored is False
    with session_scope(rt.sessions) as s:
        assert s.scalars(select(FeedFetch.id)).all() == logged


def test_a_304_writes_no_host_answer_while_another_host_answered_a_moment_ago(
    resources: Resources, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Feeds are spread over many hosts: a 304 from a host not heard from for an hour still
    # costs no host_health write while any host is answering.
    monkeypatch.setattr(not_modified, "DEFAULT_HOST_OK_FRESH_S", 3600.0)
    with LocalHTTPServer("127.0.0.2") as other:
        quiet_feed = _add(resources, serve_site(http_server)["world"])
        busy_feed = _add(resources, serve_site(other)["world"])
        _refresh(resources, quiet_feed)
        hour_ago = utcnow() - timedelta(hours=1)
        with session_scope(resources.sessions) as s:
            s.execute(update(HostHealth).values(last_ok_at=hour_ago))
        _refresh(resources, busy_feed)  # another host answers now
        with sql_statements(resources.engine) as statements:
            assert _refresh(resources, quiet_feed).outcome == "not_modified"
    assert len(statements) == 3, statements
    with session_scope(resources.sessions) as s:
        rows = dict(s.execute(select(HostHealth.host, HostHealth.last_ok_at)).all())
    assert rows["127.0.0.1"] == hour_ago  # not written
    assert rows["127.0.0.2"] > hour_ago


def test_a_304_records_its_hosts_answer_when_the_last_one_is_old_or_a_failure_came_since(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    feed_id = _add(resources, serve_site(http_server)["world"])
    _refresh(resources, feed_id)
    long_ago = utcnow() - timedelta(hours=1)
    for failure in (None, long_ago + timedelta(minutes=1)):
        with session_scope(resources.sessions) as s:
            s.execute(
                update(HostHealth).values(
                    last_ok_at=long_ago if failure is None else utcnow(),
                    last_failure_at=utcnow() + timedelta(seconds=1) if failure else None,
                )
            )
        before = utcnow()
        assert _refresh(resources, feed_id).outcome == "not_modified"
        with session_scope(resources.sessions) as s:
            (ok,) = s.scalars(select(HostHealth.last_ok_at)).all()
        assert ok is not None and ok >= before
