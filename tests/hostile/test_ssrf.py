"""SSRF through a feed URL or an article link: refused before any request, and recorded.

Private networks are NOT allowed here (the default). The local server listens on
127.0.0.1 so that a refusal is proven by it seeing no request at all.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Article, session_scope
from tests.hostile import payloads
from tests.hostile.conftest import add, hostile_resources_for, refresh_and_record
from tests.support.httpserver import LocalHTTPServer
from tests.support.services import migrate
from worker.fetch import transport
from worker.pipeline import process_article, refresh_feed
from worker.resources import Resources

TARGETS = [
    "http://127.0.0.1:{port}/feed.xml",
    "http://localhost:{port}/feed.xml",
    "http://2130706433:{port}/feed.xml",  # 127.0.0.1 as one decimal number
    "http://0x7f.1:{port}/feed.xml",  # hex and short form
    "http://017700000001:{port}/feed.xml",  # octal
    "http://[::ffff:127.0.0.1]:{port}/feed.xml",  # IPv4-mapped IPv6
    "http://[::1]:{port}/feed.xml",
    "http://0.0.0.0:{port}/feed.xml",
    "http://10.0.0.1/feed.xml",
    "http://192.168.1.1/feed.xml",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://100.64.0.1/feed.xml",  # CGNAT
    "http://224.0.0.1/feed.xml",  # multicast
]


@pytest.fixture
def guarded_resources(tmp_path: Path, sqlite_url: str) -> Iterator[Resources]:
    migrate(sqlite_url)
    rt = hostile_resources_for(tmp_path, sqlite_url, allow_private_networks=False)
    yield rt
    rt.close()


@pytest.mark.parametrize("template", TARGETS)
def test_feed_url_to_an_internal_address_is_refused_and_recorded(
    template: str, guarded_resources: Resources, http_server: LocalHTTPServer
) -> None:
    http_server.add("/feed.xml", payloads.plain_feed("https://x.example"), content_type="text/xml")
    http_server.add("/latest/meta-data/", "secret-role", content_type="text/plain")
    record = refresh_and_record(guarded_resources, template.format(port=http_server.port))
    assert (record.refresh.outcome, record.refresh.error_class) == (
        "error",
        "blocked_destination",
    )
    assert record.fetch.error_class == record.feed.last_error_class == "blocked_destination"
    assert record.feed.last_error  # says which address was refused
    assert record.feed.status == "erroring" and record.feed.consecutive_errors == 1
    assert record.fetch.status_code is None
    assert record.articles == []
    assert http_server.requests == []  # not one byte reached the internal service


def test_redirect_to_an_internal_address_is_refused_and_recorded(
    guarded_resources: Resources, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test server (127.0.0.1) stands for a public site: only that address is let
    # through. Its redirect points at an internal service on 127.0.0.2, which must be
    # refused at the hop, before any connection.
    real = transport.refusal_reason

    def policy(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        return None if address == ipaddress.IPv4Address("127.0.0.1") else real(address)

    monkeypatch.setattr(transport, "refusal_reason", policy)
    with socket.socket() as internal:
        internal.bind(("127.0.0.2", 0))
        internal.listen(4)
        internal.settimeout(0.3)
        target = f"http://127.0.0.2:{internal.getsockname()[1]}/admin"
        http_server.add("/feed.xml", status=301, headers={"Location": target})
        record = refresh_and_record(guarded_resources, http_server.url("/feed.xml"))
        with pytest.raises(TimeoutError):
            internal.accept()  # nobody ever connected
    assert (record.refresh.outcome, record.refresh.error_class) == (
        "error",
        "blocked_destination",
    )
    assert "127.0.0.2" in (record.feed.last_error or "")
    assert record.feed.url == http_server.url("/feed.xml")  # a refused move is not adopted
    assert record.feed.redirect_url is None


def test_article_link_to_an_internal_address_keeps_the_feed_text(
    tmp_path: Path, sqlite_url: str, http_server: LocalHTTPServer
) -> None:
    migrate(sqlite_url)
    doc = payloads.rss(
        payloads.item(
            "Internal link",
            link="http://169.254.169.254/latest/meta-data/iam",
            description="What the feed said about it.",
        )
    )
    http_server.add("/feed.xml", doc, content_type="application/rss+xml")
    # The feed itself is fetched with private networks allowed (it is on 127.0.0.1); its
    # article link is then followed by a worker that refuses them, as in production.
    open_rt = hostile_resources_for(tmp_path, sqlite_url)
    feed_id = add(open_rt, http_server.url("/feed.xml"))
    (article_id,) = refresh_feed(
        open_rt.sessions, open_rt.fetcher, open_rt.settings, feed_id
    ).new_article_ids
    open_rt.close()
    guarded = hostile_resources_for(tmp_path, sqlite_url, allow_private_networks=False)
    try:
        outcome = process_article(guarded.sessions, guarded.fetcher, guarded.settings, article_id)
        assert (outcome.status, outcome.error_class) == ("failed", "blocked_destination")
        with session_scope(guarded.sessions) as s:
            article = s.scalars(select(Article)).one()
            assert (article.status, article.error_class) == ("failed", "blocked_destination")
            assert article.text == "What the feed said about it."
            assert article.http_status is None
    finally:
        guarded.close()
