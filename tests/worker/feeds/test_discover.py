"""Feed discovery: the feeds an HTML page names."""

from __future__ import annotations

from worker.feeds.discover import linked_feeds


def _page(head: str) -> str:
    return f"<!doctype html><html><head><title>Site</title>{head}</head><body>Hi</body></html>"


def test_linked_feeds_in_page_order_resolved_and_deduplicated() -> None:
    html = _page(
        '<base href="/news/">'
        '<link rel="alternate" type="application/rss+xml" title=" Main  feed" href="rss.xml">'
        '<link rel="alternate stylesheet" type="text/css" href="/style.css">'
        '<link rel="Alternate" type="application/atom+xml; charset=utf-8" href="/atom">'
        '<link rel="alternate" type="application/rss+xml" href="rss.xml">'
        '<link rel="alternate" type="application/feed+json" href="javascript:alert(1)">'
        '<link rel="alternate" hreflang="fr" href="/fr/">'
    ).encode()
    found = linked_feeds(html, "https://site.example/index.html")
    assert [(f.url, f.title) for f in found] == [
        ("https://site.example/news/rss.xml", "Main feed"),
        ("https://site.example/atom", None),
    ]
    assert linked_feeds(b"\x00\xff not html at all", "https://site.example/") == []
