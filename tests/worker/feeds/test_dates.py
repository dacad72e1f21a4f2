"""Entry dates: read strictly in every format, a refused one is None with its reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from worker.feeds import parse_feed


def test_rss_keeps_good_dates_and_explains_junk() -> None:
    doc = (
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>a</title><link>https://e.example/a</link>"
        b"<pubDate>Mon, 02 Mar 2026 10:30:00 +0200</pubDate></item>"
        b"<item><title>b</title><link>https://e.example/b</link><pubDate>-1</pubDate></item>"
        b"</channel></rss>"
    )
    good, junk = parse_feed(doc, url="https://e.example/feed").entries
    assert good.published_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert good.date_error is None
    assert junk.published_at is None
    assert junk.date_error == "published '-1': no year"


def test_atom_updated_junk_is_named() -> None:
    doc = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b'<entry><title>a</title><link href="https://e.example/a"/><id>a</id>'
        b"<published>2026-03-02T08:30:00Z</published><updated>0000-00-00T00:00:00Z</updated>"
        b"</entry></feed>"
    )
    (entry,) = parse_feed(doc, url="https://e.example/feed").entries
    assert entry.published_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert entry.updated_at is None
    assert entry.date_error is not None
    assert entry.date_error.startswith("updated '0000-00-00T00:00:00Z': ")


def test_json_feed_dates() -> None:
    doc = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "t",
            "items": [
                {"id": "1", "url": "https://e.example/1", "content_text": "x",
                 "date_published": "2026-03-02T10:30:00+02:00", "date_modified": "2099-01-01"},
                {"id": "2", "url": "https://e.example/2", "content_text": "y",
                 "date_published": "Sat, 01 Jan 0000"},
            ],
        }
    ).encode()  # fmt: skip
    first, second = parse_feed(doc, url="https://e.example/feed.json").entries
    assert first.published_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert first.updated_at is None
    assert first.date_error == "date_modified '2099-01-01': in the future"
    assert second.published_at is None
    assert second.date_error == "date_published 'Sat, 01 Jan 0000': year 0000 is out of range"
