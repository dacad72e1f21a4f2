"""robots.txt: obeyed for article pages (check_robots=True), cached per origin."""

from __future__ import annotations

import time

import pytest

from tests.support.httpserver import LocalHTTPServer
from worker.config import Settings
from worker.fetch import Fetcher, RobotsDisallowed, TransientFetchError
from worker.fetch.robots import RobotsCache, RobotsRules, agent_token, origin_of

ROBOTS = b"User-agent: *\nDisallow: /private/\n"


def test_disallowed_page_is_not_fetched(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/robots.txt", ROBOTS, content_type="text/plain")
    server.add("/private/story", "secret")
    with pytest.raises(RobotsDisallowed) as info:
        fetcher.fetch(server.url("/private/story"), check_robots=True)
    assert info.value.error_class == "robots"
    assert info.value.url == server.url("/private/story")
    assert server.requests_to("/private/story") == []
    (robots_request,) = server.requests_to("/robots.txt")
    assert robots_request.headers["user-agent"].startswith("Storywire")


def test_allowed_pages_and_cache(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/robots.txt", ROBOTS, content_type="text/plain")
    server.add("/news/1", "one")
    server.add("/news/2", "two")
    assert fetcher.fetch(server.url("/news/1"), check_robots=True).content == b"one"
    assert fetcher.fetch(server.url("/news/2"), check_robots=True).content == b"two"
    with pytest.raises(RobotsDisallowed):
        fetcher.fetch(server.url("/private/x"), check_robots=True)
    assert len(server.requests_to("/robots.txt")) == 1


def test_group_for_our_user_agent_wins(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add(
        "/robots.txt",
        b"User-agent: *\nAllow: /\n\nUser-agent: Storywire\nDisallow: /news/\n",
        content_type="text/plain",
    )
    server.add("/news/1", "one")
    with pytest.raises(RobotsDisallowed):
        fetcher.fetch(server.url("/news/1"), check_robots=True)


def test_feeds_do_not_consult_robots(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/robots.txt", b"User-agent: *\nDisallow: /\n", content_type="text/plain")
    server.add("/feed.xml", "<rss/>")
    assert fetcher.fetch(server.url("/feed.xml")).content == b"<rss/>"
    assert server.requests_to("/robots.txt") == []


def test_obey_robots_setting_off(server: LocalHTTPServer, settings: Settings) -> None:
    server.add("/robots.txt", b"User-agent: *\nDisallow: /\n", content_type="text/plain")
    server.add("/news/1", "one")
    with Fetcher(settings.model_copy(update={"obey_robots": False})) as fetcher:
        assert fetcher.fetch(server.url("/news/1"), check_robots=True).content == b"one"
    assert server.requests_to("/robots.txt") == []


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_robots_4xx_means_no_rules(server: LocalHTTPServer, fetcher: Fetcher, status: int) -> None:
    server.add("/robots.txt", b"nope", status=status)
    server.add("/news/1", "one")
    assert fetcher.fetch(server.url("/news/1"), check_robots=True).content == b"one"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_robots_unreachable_blocks_for_now(
    server: LocalHTTPServer, fetcher: Fetcher, status: int
) -> None:
    server.add("/robots.txt", b"down", status=status)
    server.add("/news/1", "one")
    for _ in range(2):
        with pytest.raises(TransientFetchError) as info:
            fetcher.fetch(server.url("/news/1"), check_robots=True)
        assert info.value.error_class == "robots_unavailable"
        assert info.value.retry_after is not None
        assert 0 < info.value.retry_after <= 300
    assert server.requests_to("/news/1") == []
    assert len(server.requests_to("/robots.txt")) == 1  # the failure is cached too


def test_redirect_into_disallowed_path(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/robots.txt", ROBOTS, content_type="text/plain")
    server.add("/go", status=302, headers={"Location": "/private/story"})
    server.add("/private/story", "secret")
    with pytest.raises(RobotsDisallowed) as info:
        fetcher.fetch(server.url("/go"), check_robots=True)
    assert info.value.url == server.url("/private/story")
    assert server.requests_to("/private/story") == []


def test_oversized_robots_is_truncated_not_fatal(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    body = ROBOTS + b"# padding\n" * 200_000  # ~2 MB, over the 512 KiB robots cap
    server.add("/robots.txt", body, content_type="text/plain")
    server.add("/news/1", "one")
    assert fetcher.fetch(server.url("/news/1"), check_robots=True).content == b"one"
    with pytest.raises(RobotsDisallowed):
        fetcher.fetch(server.url("/private/1"), check_robots=True)


def test_binary_garbage_robots_allows(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/robots.txt", bytes(range(256)) * 10, content_type="application/octet-stream")
    server.add("/news/1", "one")
    assert fetcher.fetch(server.url("/news/1"), check_robots=True).content == b"one"


def test_crawl_delay_spaces_requests(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/robots.txt", b"User-agent: *\nCrawl-delay: 0.4\n", content_type="text/plain")
    for i in range(3):
        server.add(f"/news/{i}", str(i))
    started = time.monotonic()
    for i in range(3):
        fetcher.fetch(server.url(f"/news/{i}"), check_robots=True)
    # robots.txt, then three pages each at least 0.4 s after the previous request.
    assert time.monotonic() - started >= 3 * 0.4 - 0.05


def test_robots_ttl_setting_controls_refetch(server: LocalHTTPServer, settings: Settings) -> None:
    # An hour, or a microsecond (over before the page's own request has come back): whatever
    # the machine's speed, the first is a cache hit and the second a refetch every time.
    server.add("/robots.txt", ROBOTS, content_type="text/plain")
    server.add("/news/1", "one")
    with Fetcher(settings.model_copy(update={"robots_ttl_s": 3600.0})) as fetcher:
        for _ in range(3):
            fetcher.fetch(server.url("/news/1"), check_robots=True)
    assert len(server.requests_to("/robots.txt")) == 1  # cached within the TTL
    with Fetcher(settings.model_copy(update={"robots_ttl_s": 1e-6})) as fetcher:
        for _ in range(3):
            fetcher.fetch(server.url("/news/1"), check_robots=True)
    assert len(server.requests_to("/robots.txt")) == 1 + 3  # expired by each next fetch


def test_robots_ttl_is_bounded_by_rfc_9309() -> None:
    with pytest.raises(ValueError, match="robots_ttl_s"):
        Settings(robots_ttl_s=2 * 86_400)


def test_rules_expire() -> None:
    cache = RobotsCache()
    fresh = RobotsRules.parse(ROBOTS, ttl_s=3600)
    assert 3500 < fresh.expires_at - time.monotonic() <= 3600
    cache.put("http://a.test", fresh)
    cached = cache.get("http://a.test")
    assert cached is not None
    assert not cached.allows("http://a.test/private/x", "Storywire")
    cache.put("http://a.test", RobotsRules.parse(ROBOTS, ttl_s=0))  # expired as it is made
    assert cache.get("http://a.test") is None


def test_cache_is_bounded() -> None:
    cache = RobotsCache(max_entries=3)
    for i in range(5):
        cache.put(f"http://h{i}.test", RobotsRules.allow_all())
    assert cache.get("http://h0.test") is None
    assert cache.get("http://h4.test") is not None


def test_helpers() -> None:
    assert agent_token("Storywire/0.1 (+https://example.org/bot)") == "Storywire"
    assert agent_token("MyBot") == "MyBot"
    assert origin_of("HTTPS://user:pw@Example.COM:8443/a?b") == "https://example.com:8443"
