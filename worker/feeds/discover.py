"""Feed discovery: from a URL someone was given (a site, a page, a feed) to its feeds.

Usage::

    with Fetcher(settings) as fetcher:
        found = discover(fetcher, "https://news.example/")
    found.is_feed        # the URL itself is a feed
    found.feeds          # [DiscoveredFeed(url, title), ...], the page's own order

A feed URL is a feed. An HTML page names its feeds with ``<link rel="alternate"
type="application/rss+xml">`` (Atom and JSON Feed too): those are taken as the site states
them. A page that names none is tried at the usual places (``/feed``, ``/rss.xml``, ...),
each fetched and parsed, and only those that parse as feeds are offered. Every request goes
through the given :class:`~worker.fetch.Fetcher`: the same limits and destination checks as
polling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

import lxml.html
from lxml.etree import ParserError

from worker.feeds.parse import parse_feed
from worker.feeds.records import FeedParseError
from worker.fetch import ACCEPT_FEED, Fetcher, FetchError

#: ``type`` of the ``<link rel="alternate">`` elements that name a feed.
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
        "application/json",
        "text/xml",
        "application/xml",
    }
)
#: Where sites without ``<link>`` elements usually keep their feed, tried in this order.
USUAL_PATHS = (
    "/feed",
    "/rss",
    "/feed.xml",
    "/rss.xml",
    "/atom.xml",
    "/index.xml",
    "/feed.json",
    "/feed/",
    "/rss/",
)
#: Entries parsed to tell a feed from something else (only whether it parses matters).
_PROBE_ENTRIES = 1


class NoFeedFound(Exception):
    """The URL answered, but it is not a feed and names none."""


@dataclass(frozen=True)
class DiscoveredFeed:
    url: str
    title: str | None = None


@dataclass
class Discovery:
    is_feed: bool
    feeds: list[DiscoveredFeed] = field(default_factory=list)


def discover(fetcher: Fetcher, url: str, *, probe_all: bool = False) -> Discovery:
    """The feeds behind ``url``; raises ``FetchError`` (the URL did not answer usefully) or
    :class:`NoFeedFound`. ``probe_all``: try every usual path, not only up to the first feed."""
    response = fetcher.fetch(url, accept=ACCEPT_FEED)
    content_type = response.headers.get("content-type")
    if _parses_as_feed(response.content, response.url, content_type):
        return Discovery(is_feed=True, feeds=[DiscoveredFeed(url)])
    linked = linked_feeds(response.content, response.url)
    if linked:
        return Discovery(is_feed=False, feeds=linked)
    probed: list[DiscoveredFeed] = []
    for path in USUAL_PATHS:
        candidate = urljoin(response.url, path)
        if candidate in (url, response.url) or not _is_feed_at(fetcher, candidate):
            continue
        probed.append(DiscoveredFeed(candidate))
        if not probe_all:
            break
    if not probed:
        raise NoFeedFound(f"{url} is not a feed and links to none")
    return Discovery(is_feed=False, feeds=probed)


def linked_feeds(html: bytes, base_url: str) -> list[DiscoveredFeed]:
    """The feeds an HTML page names in ``<link rel="alternate">``, in its order."""
    try:
        root = lxml.html.document_fromstring(html)
    except (ParserError, ValueError):
        return []
    base = next((b.get("href") for b in root.iter("base") if b.get("href")), None)
    found: dict[str, DiscoveredFeed] = {}
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" not in rel or kind not in FEED_TYPES or not href:
            continue
        absolute = urljoin(urljoin(base_url, base) if base else base_url, href)
        if absolute.startswith(("http://", "https://")) and absolute not in found:
            title = " ".join((link.get("title") or "").split()) or None
            found[absolute] = DiscoveredFeed(absolute, title)
    return list(found.values())


def _is_feed_at(fetcher: Fetcher, url: str) -> bool:
    try:
        response = fetcher.fetch(url, accept=ACCEPT_FEED)
    except FetchError:
        return False
    return _parses_as_feed(response.content, response.url, response.headers.get("content-type"))


def _parses_as_feed(content: bytes, url: str, content_type: str | None) -> bool:
    try:
        parse_feed(content, url=url, content_type=content_type, max_entries=_PROBE_ENTRIES)
    except FeedParseError:
        return False
    return True
