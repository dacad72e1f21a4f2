"""STORYWIRE_HTTP_PROXY: fetches go through the proxy, and the target is still judged by the
destination policy (the proxy itself, the operator's choice, may be on any network)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.httpserver import LocalHTTPServer
from worker.config import Settings
from worker.fetch import BlockedDestination, Fetcher


@pytest.fixture
def proxy() -> Iterator[LocalHTTPServer]:
    """A local server that answers absolute-URI requests: what an HTTP proxy receives."""
    with LocalHTTPServer() as server:
        yield server


def test_requests_go_through_the_proxy(settings: Settings, proxy: LocalHTTPServer) -> None:
    target = "http://127.0.0.1:9/page.html"  # nothing listens there: only the proxy answers
    proxy.add(target, "<p>via proxy</p>")
    with Fetcher(settings.model_copy(update={"http_proxy": proxy.url()})) as fetcher:
        response = fetcher.fetch(target)
    assert response.content == b"<p>via proxy</p>"
    assert [r.path for r in proxy.requests] == [target]


def test_the_target_is_still_checked(settings: Settings, proxy: LocalHTTPServer) -> None:
    target = "http://127.0.0.1:9/page.html"
    proxy.add(target, "<p>internal</p>")
    guarded = settings.model_copy(
        update={"http_proxy": proxy.url(), "allow_private_networks": False}
    )
    with Fetcher(guarded) as fetcher, pytest.raises(BlockedDestination, match="loopback"):
        fetcher.fetch(target)
    assert proxy.requests == []  # refused before anything was sent
