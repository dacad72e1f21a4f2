"""What a feed's URL and entries carry that must not be stored as given (issue 15, item 8):
credentials in the feed URL, a 100,000-character link, 10,000 authors.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Article, ArticleSource, Change, Feed, session_scope
from tests.hostile import payloads
from tests.hostile.conftest import hostile_resources_for, refresh_and_record
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import run_storywire, storywire_env
from tests.support.services import migrate
from worker.resources import Resources

RSS = "application/rss+xml; charset=utf-8"
SECRET = "s3cr%40t-pw"  # percent-encoded in the URL: "s3cr@t-pw" once decoded


def _private_feed(server: LocalHTTPServer) -> str:
    # Relative links: resolved against a URL that still had the credentials, every article
    # URL would carry them.
    server.add(
        "/private.xml",
        payloads.rss(payloads.item("Members' news", link="/members/1.html", guid="m1")),
        content_type=RSS,
    )
    return server.url("/private.xml").replace("http://", f"http://reader:{SECRET}@")


def test_feed_credentials_are_sent_but_never_shown(
    hostile_resources: Resources, http_server: LocalHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = _private_feed(http_server)
    with caplog.at_level(logging.DEBUG):
        record = refresh_and_record(hostile_resources, url)

    (request,) = http_server.requests_to("/private.xml")
    expected = base64.b64encode(b"reader:s3cr@t-pw").decode()
    assert request.headers.get("authorization") == f"Basic {expected}"  # sent to the feed
    assert record.refresh.outcome == "ok"
    assert record.feed.url == http_server.url("/private.xml")
    assert (record.feed.username, record.feed.password) == ("reader", "s3cr@t-pw")
    with session_scope(hostile_resources.sessions) as s:
        payloads_ = [json.dumps(p) for p in s.scalars(select(Change.payload))]
        stored = [
            *s.scalars(select(Article.url)),
            *s.scalars(select(Article.canonical_url)),
            *s.scalars(select(ArticleSource.entry_url)),
            *(f.redirect_url or "" for f in s.scalars(select(Feed))),
        ]
    assert [a.canonical_url for a in record.articles] == [http_server.url("/members/1.html")]
    for text in (*payloads_, *stored, caplog.text):
        assert "s3cr" not in text


def test_feed_credentials_stay_out_of_cli_output(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    url = _private_feed(http_server)
    env = storywire_env(
        STORYWIRE_DATA_DIR=str(tmp_path / "data"), STORYWIRE_ALLOW_PRIVATE_NETWORKS="1"
    )
    outputs = []
    for args in (["feeds", "add", url], ["feeds", "list"], ["feeds", "export"], ["changes"]):
        done = run_storywire(args, env)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout + done.stderr)
    assert "127.0.0.1" in outputs[0] and "127.0.0.1" in outputs[3]
    for output in outputs:
        assert "s3cr" not in output and "reader" not in output
    # A bad URL is echoed back without its password too.
    done = run_storywire(["feeds", "add", f"ftp://reader:{SECRET}@files.example/feed"], env)
    assert done.returncode != 0
    assert "s3cr" not in done.stderr and "files.example/feed" in done.stderr


def test_a_link_too_long_to_keep_is_dropped_with_a_reason(
    hostile_resources: Resources, http_server: LocalHTTPServer
) -> None:
    link = "https://hostile.example/" + "a" * 100_000
    http_server.add(
        "/long-link.xml",
        payloads.rss(payloads.item("Long", link=link, guid="long-1", description="Kept.")),
        content_type=RSS,
    )
    record = refresh_and_record(hostile_resources, http_server.url("/long-link.xml"))
    assert record.refresh.outcome == "bozo"  # usable, with something wrong that is recorded
    message = record.fetch.error_message or ""
    assert "1 link or id of more than 2048 characters dropped (longest: 100024)" in message
    (article,) = record.articles  # the entry itself is kept, keyed by its guid
    assert article.title == "Long" and len(article.url) < 100


def test_a_link_too_long_for_a_key_is_stored_under_another_on_postgres(
    tmp_path: Path, pg_url: str, http_server: LocalHTTPServer
) -> None:
    # 2,000 characters (kept by the parser) that percent-encode to 18,000 bytes that do not
    # compress: more than a PostgreSQL unique index takes, which failed the feed's transaction.
    link = "https://hostile.example/" + "".join(
        chr(0x4E00 + n * 7919 % 20_000) for n in range(2_000)
    )
    http_server.add(
        "/encoded-link.xml",
        payloads.rss(payloads.item("Accents", link=link, guid="acc-1", description="Kept.")),
        content_type=RSS,
    )
    migrate(pg_url)
    rt = hostile_resources_for(tmp_path, pg_url)
    try:
        record = refresh_and_record(rt, http_server.url("/encoded-link.xml"))
    finally:
        rt.close()
    assert record.refresh.outcome == "ok", record.fetch.error_message
    (article,) = record.articles
    assert article.title == "Accents" and len(article.canonical_url.encode()) <= 2048


def test_ten_thousand_authors_are_capped(
    hostile_resources: Resources, http_server: LocalHTTPServer
) -> None:
    people = [{"name": f"Writer Number{n}"} for n in range(10_000)]
    people.insert(0, {"name": "N" * 5_000})  # not a name: dropped, not cut
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Many hands",
        "items": [
            {"id": "1", "url": "https://hostile.example/1", "title": "T", "authors": people},
            {"id": "2", "url": "https://hostile.example/2", "title": "U", "author": {
                "name": ", ".join(f"Byline Person{n}" for n in range(10_000))}},
        ],
    }  # fmt: skip
    http_server.add("/authors.json", json.dumps(feed), content_type="application/feed+json")
    record = refresh_and_record(hostile_resources, http_server.url("/authors.json"))
    by_url = {a.url: a for a in record.articles}
    assert by_url["https://hostile.example/1"].authors == [f"Writer Number{n}" for n in range(50)]
    assert by_url["https://hostile.example/2"].authors == [f"Byline Person{n}" for n in range(50)]
    assert all(len(source.authors) == 50 for source in record.sources)
