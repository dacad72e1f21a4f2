"""A small synthetic news site for end-to-end tests: two feeds, four article pages.

Feed "world" lists articles a1, a2, a3; feed "local" lists a3 (with a tracking parameter, so
only canonicalization makes it the same article) and a4. Every page carries navigation, a
newsletter box and a paywall notice that must never reach the stored text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from tests.support.httpserver import LocalHTTPServer

BOILERPLATE = (
    "Subscribe to our newsletter for the best stories every morning.",
    "You have reached your limit of free articles. Already a subscriber? Log in.",
    "Home | World | Politics | Business | Sports | Contact us",
)


@dataclass(frozen=True)
class Story:
    slug: str
    title: str
    author: str
    published: datetime
    paragraphs: tuple[str, ...]


STORIES = (
    Story(
        "a1",
        "Harbour town opens flood barrier after decade of planning",
        "Maren Holt",
        datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
        (
            "The coastal town of Eastwick switched on its new tidal flood barrier on Monday, "
            "ending ten years of planning, public hearings and two redesigns.",
            "Engineers tested the twelve steel gates at dawn while a small crowd of residents "
            "watched from the promenade, some of whom had lost homes in the storm of 2016.",
            "The mayor said the barrier would protect four thousand households and the fish "
            "market from surges that forecasters expect to grow stronger each decade.",
            "Critics argued the budget had tripled since the first estimate, but the regional "
            "council approved the final payment last autumn after an independent review.",
        ),
    ),
    Story(
        "a2",
        "Regional orchestra names violinist Ada Brenner as new conductor",
        "Tomas Reyes",
        datetime(2026, 3, 2, 11, 0, tzinfo=UTC),
        (
            "The Northern Regional Orchestra has appointed violinist Ada Brenner as its "
            "principal conductor, the first musician from its own ranks to lead the ensemble.",
            "Brenner, who joined as a second violin nineteen years ago, will take up the post "
            "in September and has promised a season built around little-known local composers.",
            "Board members said the vote was unanimous after a year-long search that included "
            "guest appearances by eleven candidates from across the continent.",
            "Tickets for her opening concert in the restored corn exchange go on sale in May.",
        ),
    ),
    Story(
        "a3",
        "Rail strike halts morning trains across three provinces",
        "Lena Okafor",
        datetime(2026, 3, 3, 6, 15, tzinfo=UTC),
        (
            "Commuters in three provinces found stations shuttered on Tuesday morning as rail "
            "workers began a forty-eight hour strike over pay and night-shift staffing.",
            "The union said talks collapsed late on Monday when the operator refused to "
            "restore a bonus cut during the pandemic years.",
            "Bus companies added extra coaches on the busiest routes, but queues stretched "
            "around the central terminal well before seven o'clock.",
            "The transport ministry urged both sides to return to mediation and said it would "
            "not rule out emergency legislation if the stoppage continued into next week.",
        ),
    ),
    Story(
        "a4",
        "Village library wins national prize for reading programme",
        "Priya Nandakumar",
        datetime(2026, 3, 3, 9, 45, tzinfo=UTC),
        (
            "A volunteer-run library in the village of Hollow Ford has won the national "
            "literacy prize for a reading programme that pairs teenagers with retired teachers.",
            "Over three years the scheme has enrolled more than two hundred pupils, and the "
            "judges praised its careful tracking of how reading ages improved.",
            "The librarian, who started the programme with a grant of five hundred pounds, "
            "said the prize money would pay for a mobile book van for outlying farms.",
            "Neighbouring districts have already asked for the handbook the volunteers wrote.",
        ),
    ),
)


def page_html(story: Story, url: str) -> str:
    jsonld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": story.title,
        "datePublished": story.published.isoformat(),
        "author": {"@type": "Person", "name": story.author},
    }
    body = "\n".join(f"<p>{p}</p>" for p in story.paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{story.title} | The Daily Example</title>
<link rel="canonical" href="{url}">
<meta name="author" content="{story.author}">
<meta property="og:site_name" content="The Daily Example">
<script type="application/ld+json">{json.dumps(jsonld)}</script>
</head><body>
<header><nav><a href="/">Home</a> | <a href="/world">World</a> | <a href="/politics">Politics</a>
| <a href="/business">Business</a> | <a href="/sports">Sports</a>
| <a href="/contact">Contact us</a></nav></header>
<main><article>
<h1>{story.title}</h1>
<p class="byline">By {story.author}</p>
{body}
</article>
<aside class="newsletter"><p>{BOILERPLATE[0]}</p><form><input name="email"></form></aside>
<div class="paywall"><p>{BOILERPLATE[1]}</p></div>
</main>
<footer><p>&copy; 2026 The Daily Example. All rights reserved.</p></footer>
</body></html>"""


def rss(title: str, items: list[tuple[Story, str]]) -> str:
    entries = "\n".join(
        f"""<item><title>{s.title}</title><link>{link}</link>
<guid isPermaLink="false">{s.slug}</guid>
<pubDate>{format_datetime(s.published)}</pubDate>
<description>{s.paragraphs[0]}</description></item>"""
        for s, link in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{title}</title><link>http://example.invalid/</link>
<description>{title} news</description>
{entries}
</channel></rss>"""


def serve_site(server: LocalHTTPServer) -> dict[str, str]:
    """Publish the site; returns {"world": feed url, "local": feed url}."""
    by_slug = {s.slug: s for s in STORIES}
    for story in STORIES:
        path = f"/news/{story.slug}.html"
        server.add(path, page_html(story, server.url(path)))
    world = [(by_slug[s], server.url(f"/news/{s}.html")) for s in ("a1", "a2", "a3")]
    local = [
        (by_slug["a3"], server.url("/news/a3.html?utm_source=rss&utm_medium=feed")),
        (by_slug["a4"], server.url("/news/a4.html")),
    ]
    rss_type = "application/rss+xml; charset=utf-8"
    server.add(
        "/feeds/world.xml",
        rss("World", world),
        content_type=rss_type,
        headers={"ETag": '"world-v1"'},
    )
    server.add(
        "/feeds/local.xml",
        rss("Local", local),
        content_type=rss_type,
        headers={"ETag": '"local-v1"'},
    )
    return {"world": server.url("/feeds/world.xml"), "local": server.url("/feeds/local.xml")}
