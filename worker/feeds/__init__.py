"""Feed documents into records: RSS/Atom/RDF (feedparser), JSON Feed, OPML.

Usage::

    from worker.feeds import FeedParseError, parse_feed, read_opml, write_opml

    feed = parse_feed(body, url="https://example.com/feed.xml", content_type="application/rss+xml")
    feed.format, feed.title, feed.ttl_s, feed.bozo
    for entry in feed.entries:          # newest first, at most max_entries
        entry.guid, entry.link, entry.title, entry.published_at, entry.authors

No network, no file access: only the bytes given are read.
"""

from __future__ import annotations

from worker.feeds.opml import OpmlError, OpmlOutline, read_opml, write_opml
from worker.feeds.parse import DEFAULT_MAX_ENTRIES, DEFAULT_MAX_FIELD_CHARS, parse_feed
from worker.feeds.records import FeedEntry, FeedParseError, ParsedFeed

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_FIELD_CHARS",
    "FeedEntry",
    "FeedParseError",
    "OpmlError",
    "OpmlOutline",
    "ParsedFeed",
    "parse_feed",
    "read_opml",
    "write_opml",
]
