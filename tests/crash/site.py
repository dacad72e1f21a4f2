"""A synthetic news site of a few hundred small articles, for the crash-safety tests.

``serve_articles(server, feeds=6, per_feed=50)`` publishes ``feeds`` RSS feeds of
``per_feed`` articles each; every article page has its own text (so no two are duplicates of
each other) built from a seeded word list. Returns the feed URLs and the article paths.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from tests.support.httpserver import LocalHTTPServer

_WORDS = [
    "harbour",
    "council",
    "budget",
    "river",
    "bridge",
    "school",
    "orchestra",
    "library",
    "railway",
    "strike",
    "museum",
    "hospital",
    "farmers",
    "market",
    "election",
    "mayor",
    "festival",
    "drought",
    "harvest",
    "tunnel",
    "ferry",
    "airport",
    "union",
    "teachers",
    "nurses",
    "storm",
    "flood",
    "wildfire",
    "vaccine",
    "researchers",
    "telescope",
    "stadium",
    "factory",
    "workers",
    "pension",
    "court",
    "ruling",
    "minister",
    "parliament",
    "coalition",
    "protest",
    "village",
    "coastline",
    "glacier",
    "volcano",
    "earthquake",
    "satellite",
    "battery",
    "startup",
    "bakery",
    "vineyard",
]


@dataclass(frozen=True)
class SiteArticle:
    path: str
    title: str
    paragraphs: tuple[str, ...]


def article(index: int) -> SiteArticle:
    rng = random.Random(index)
    paragraphs = tuple(
        " ".join(rng.choice(_WORDS) for _ in range(40)).capitalize() + f" (report {index}.{p})."
        for p in range(4)
    )
    title = f"Report {index}: the {rng.choice(_WORDS)} and the {rng.choice(_WORDS)}"
    return SiteArticle(f"/news/{index}.html", title, paragraphs)


def page_html(item: SiteArticle) -> str:
    body = "\n".join(f"<p>{p}</p>" for p in item.paragraphs)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{item.title}</title>"
        f"</head><body><nav><a href='/'>Home</a></nav><main><article><h1>{item.title}</h1>"
        f"{body}</article></main><footer>Example News</footer></body></html>"
    )


def rss(server: LocalHTTPServer, name: str, items: list[SiteArticle]) -> str:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    entries = "\n".join(
        f"<item><title>{a.title}</title><link>{server.url(a.path)}</link>"
        f"<guid>{a.path}</guid><pubDate>{format_datetime(start + timedelta(minutes=i))}"
        f"</pubDate><description>{a.paragraphs[0][:80]}</description></item>"
        for i, a in enumerate(items)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{name}</title><link>{server.url('/')}</link>{entries}</channel></rss>"
    )


def serve_articles(
    server: LocalHTTPServer, *, feeds: int, per_feed: int
) -> tuple[list[str], list[str]]:
    """Publish the site; returns (feed URLs, article paths)."""
    feed_urls: list[str] = []
    paths: list[str] = []
    for f in range(feeds):
        items = [article(f * per_feed + i) for i in range(per_feed)]
        for item in items:
            server.add(item.path, page_html(item))
            paths.append(item.path)
        server.add(
            f"/feeds/{f}.xml", rss(server, f"Feed {f}", items),
            content_type="application/rss+xml; charset=utf-8",
        )  # fmt: skip
        feed_urls.append(server.url(f"/feeds/{f}.xml"))
    return feed_urls, paths
