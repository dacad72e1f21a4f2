"""Hostile documents and servers for the pipeline-level suite, built at test time.

Small builders (``rss``, ``item``), bodies (entity bombs, XXE, a 50,000-entry feed, a 5 MB
description) and compression bombs. Bombs decode to ``BOMB_DECODED_BYTES``, many times the
suite's size cap, while staying small on the wire.
"""

from __future__ import annotations

import zlib
from functools import cache

import brotli

#: What a compression bomb decodes to: 16x the suite's 8 MiB cap.
BOMB_DECODED_BYTES = 128 * 1024 * 1024
SECRET = "TOP-SECRET-c0ffee"

_MiB = 1024 * 1024


def item(
    title: str = "Item",
    *,
    link: str | None = None,
    guid: str | None = None,
    date: str | None = None,
    description: str | None = None,
    extra: str = "",
) -> str:
    parts = [f"<title>{title}</title>"]
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    if date is not None:
        parts.append(f"<pubDate>{date}</pubDate>")
    if description is not None:
        parts.append(f"<description>{description}</description>")
    return f"<item>{''.join(parts)}{extra}</item>"


def rss(*items: str, title: str = "Hostile", doctype: str = "", encoding: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n{doctype}'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>{title}</title><link>https://hostile.example/</link>"
        f"{''.join(items)}</channel></rss>"
    )


def plain_feed(base: str, count: int = 2) -> str:
    return rss(
        *(
            item(f"Story {i}", link=f"{base}/story/{i}.html", guid=f"s{i}",
                 date=f"Mon, 02 Mar 2026 0{i}:00:00 GMT", description=f"About story {i}.")
            for i in range(count)
        )
    )  # fmt: skip


def billion_laughs(base: str = "https://hostile.example") -> str:
    entities = '<!ENTITY lol "lol">\n' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    return rss(
        item("&lol9;", link=f"{base}/lol", description="&lol9;"),
        title="&lol9;",
        doctype=f"<!DOCTYPE rss [\n{entities}]>\n",
    )


def quadratic_blowup(base: str = "https://hostile.example") -> str:
    # 50 kB entity used 20,000 times: 1 GB if expanded.
    doctype = '<!DOCTYPE rss [\n<!ENTITY a "' + "x" * 50_000 + '">\n]>\n'
    return rss(
        item("Quadratic", link=f"{base}/q", description="&a;" * 20_000),
        doctype=doctype,
    )


def xxe(system_id: str) -> str:
    return rss(
        item("XXE &xxe;", link="https://hostile.example/xxe", description="Leak: &xxe;"),
        doctype=f'<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{system_id}">\n]>\n',
    )


def fifty_thousand_entries() -> str:
    # Minimal entries: 50,000 of them in ~2.5 MB.
    return rss(*(f"<item><link>https://many.example/p/{i}</link></item>" for i in range(50_000)))


def huge_description(size: int = 5 * _MiB, base: str = "https://hostile.example") -> str:
    words = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
    return rss(item("Huge", link=f"{base}/huge", description=words))


def scripted_content() -> str:
    html = (
        "<p onclick=\"alert('click')\">Real paragraph about the harbour.</p>"
        "<script>alert('xss')</script><img src=x onerror=\"alert('img')\">"
        "<a href=\"javascript:alert('js')\">link</a><iframe src='https://evil.example'></iframe>"
        "<style>body{display:none}</style>"
    )
    return rss(
        item(
            "Scripted <script>alert('title')</script>",
            link="https://hostile.example/scripted",
            description="<b>Summary</b><script>alert('summary')</script>",
            extra=f"<content:encoded><![CDATA[{html}]]></content:encoded>",
        )
    )


CHALLENGE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    b"<script>window._cf_chl_opt={cvId:'3'};</script>"
    b"<noscript>Enable JavaScript and cookies to continue</noscript></body></html>"
)


@cache
def gzip_bomb() -> bytes:
    # Concatenated gzip members are one valid stream: 128 copies of 1 MiB of zeros.
    member = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    one = member.compress(bytes(_MiB)) + member.flush()
    return one * (BOMB_DECODED_BYTES // _MiB)


@cache
def brotli_bomb() -> bytes:
    compressor = brotli.Compressor(quality=4)
    block = bytes(_MiB)
    parts = [compressor.process(block) for _ in range(BOMB_DECODED_BYTES // _MiB)]
    return b"".join(parts) + bytes(compressor.finish())


def link_farm(links: int = 250_000) -> bytes:
    """An ordinary-looking page of nothing but links: 250,000 of them are 7.1 MB, under the
    suite's cap (issue 15's page had 400,000 in 9.5 MB, under the default cap)."""
    anchors = b"".join(b'<a href="/n/%d">%d</a>\n' % (i, i) for i in range(links))
    return (
        b"<!DOCTYPE html><html><head><title>Index</title></head><body>"
        + anchors
        + (b"</body></html>")
    )
