"""HTML that is safe to store and show: the last word on entry ``content``.

Usage::

    from worker.text.sanitize import sanitize_html, text_to_html

    sanitize_html('<p onclick="x()">Hi<script>evil()</script><a href="/a">a</a></p>',
                  base_url="https://example.com/feed")
    # '<p>Hi<a href="https://example.com/a">a</a></p>'

feedparser already sanitizes RSS/Atom HTML, but JSON Feed ``content_html`` is ours to clean, and
a second allow-list pass over everything keeps one guarantee for every format: no ``<script>``,
no ``on*`` attribute, no ``javascript:`` URL, no frames, forms or embedded objects.
"""

from __future__ import annotations

import html
from urllib.parse import urljoin

import lxml.etree
import lxml.html
from lxml_html_clean import Cleaner

from worker.text.normalize import strip_control_chars

_CLEANER = Cleaner(
    scripts=True,
    javascript=True,
    comments=True,
    style=True,
    inline_style=True,
    links=True,
    meta=True,
    page_structure=True,
    processing_instructions=True,
    embedded=True,
    frames=True,
    forms=True,
    annoying_tags=True,
    remove_unknown_tags=True,
    safe_attrs_only=True,
    add_nofollow=False,
)


def sanitize_html(fragment: str | None, *, base_url: str | None = None) -> str | None:
    """An allow-listed copy of ``fragment`` with links made absolute; ``None`` if empty."""
    if not fragment or not fragment.strip():
        return None
    fragment = strip_control_chars(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
        _CLEANER(root)
        if base_url:
            root.make_links_absolute(base_url, resolve_base_href=False, handle_failures="discard")
    except (lxml.etree.ParserError, ValueError):
        # Markup lxml cannot even parse is shown as text, never passed through as HTML.
        return text_to_html(fragment)
    inner = (html.escape(root.text) if root.text else "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in root
    )
    return inner.strip() or None


def text_to_html(text: str | None) -> str | None:
    """Plain text as HTML paragraphs (escaped), for ``content`` declared as text."""
    if not text or not text.strip():
        return None
    paragraphs = [p.strip() for p in strip_control_chars(text).split("\n\n") if p.strip()]
    return (
        "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs) or None
    )


def absolute_http_url(link: str | None, base_url: str | None) -> str | None:
    """``link`` resolved against ``base_url`` when the result is an http(s) URL, else ``None``."""
    if not link or not isinstance(link, str):
        return None
    link = strip_control_chars(link).strip()
    if not link:
        return None
    try:
        absolute = urljoin(base_url or "", link)
    except ValueError:
        return None
    scheme, _, rest = absolute.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
        return None
    return absolute
