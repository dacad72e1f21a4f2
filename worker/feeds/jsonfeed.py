"""JSON Feed 1.0 / 1.1 (https://www.jsonfeed.org/version/1.1/) into a :class:`ParsedFeed`.

Usage::

    from worker.feeds.jsonfeed import looks_like_json, parse_json_feed

    if looks_like_json(body, content_type):
        feed = parse_json_feed(body, url=feed_url)

Lenient where real feeds are sloppy (numeric ids, a 1.0 ``author`` object in a 1.1 feed, a
missing ``version``, which makes the result bozo) and strict where it matters: links must be
http(s), ``content_html`` is sanitized like any other HTML, dates are sane UTC or ``None``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from models import ErrorClass
from worker.feeds.records import FeedEntry, FeedParseError, ParsedFeed, dropped_urls_note
from worker.text.dates import describe_problems, read_date
from worker.text.normalize import (
    cap,
    clean_authors,
    html_to_text,
    strip_control_chars,
)
from worker.text.sanitize import absolute_http_url, sanitize_html, text_to_html

_VERSION_PREFIX = "https://jsonfeed.org/version/"
_JSON_TYPES = ("application/feed+json", "application/json")
_MAX_URL_CHARS = 2_048
_URL_KEYS = ("id", "url", "external_url")


def looks_like_json(content: bytes, content_type: str | None) -> bool:
    """True for a JSON media type, or a body whose first non-blank character is ``{``."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in _JSON_TYPES or mime.endswith("+json"):
        return True
    return content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def parse_json_feed(
    content: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int,
    max_field_chars: int,
) -> ParsedFeed:
    """Parse a JSON Feed document; raises :class:`FeedParseError` when it is not one."""
    document = _load(content, content_type)
    if not isinstance(document, dict):
        raise FeedParseError(
            ErrorClass.NOT_A_FEED, "JSON document is not an object: not a JSON Feed"
        )
    version = document.get("version")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedParseError(
            ErrorClass.NOT_A_FEED, "JSON document has no 'items' list: not a JSON Feed"
        )
    bozo, reason = False, None
    if isinstance(version, str) and version.startswith(_VERSION_PREFIX):
        number = version[len(_VERSION_PREFIX) :].strip("/").replace(".", "")
        fmt = "json" + (number if number.isdigit() else "")
        if number == "1":
            fmt = "json10"
    else:
        fmt = "json"
        bozo, reason = True, f"missing or unknown JSON Feed version: {str(version)[:80]!r}"

    feed_url = absolute_http_url(_str(document.get("feed_url")), url) or url
    site_url = absolute_http_url(_str(document.get("home_page_url")), url)
    feed_authors = _authors(document)
    now = datetime.now(UTC)
    entries = [
        _entry(item, site_url or feed_url, feed_authors, max_field_chars, now)
        for item in items
        if isinstance(item, dict)
    ]
    dropped = dropped_urls_note(
        [item.get(key) for item in items if isinstance(item, dict) for key in _URL_KEYS],
        _MAX_URL_CHARS,
    )
    if dropped:
        bozo, reason = True, dropped + (f"; {reason}" if reason else "")
    skipped = len(items) - len(entries)
    if skipped:
        bozo = True
        reason = f"{skipped} item(s) that are not objects skipped" + (
            f"; {reason}" if reason else ""
        )
    if entries and all(e.published_at or e.updated_at for e in entries):
        entries.sort(key=lambda e: e.published_at or e.updated_at or now, reverse=True)
    return ParsedFeed(
        format=fmt,
        title=cap(html_to_text(_str(document.get("title")), single_line=True), max_field_chars),
        site_url=site_url,
        description=cap(html_to_text(_str(document.get("description"))), max_field_chars),
        ttl_s=None,
        entries=entries[: max(0, max_entries)],
        bozo=bozo,
        bozo_reason=reason,
    )


def _load(content: bytes, content_type: str | None) -> Any:
    charset = _charset(content_type)
    try:
        text = content.decode(charset or "utf-8-sig")
    except (UnicodeDecodeError, LookupError):
        # RFC 8259: JSON exchanged between systems is UTF-8; keep what decodes.
        text = content.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise FeedParseError(ErrorClass.MALFORMED, f"invalid JSON: {str(err)[:200]}") from None


def _charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'").lower()
            return "utf-8-sig" if charset in ("utf-8", "utf8") else charset
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _entry(
    item: Mapping[str, Any],
    base_url: str,
    feed_authors: list[str],
    max_chars: int,
    now: datetime,
) -> FeedEntry:
    raw_id = item.get("id")
    guid = None
    if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool):
        guid = strip_control_chars(str(raw_id)).strip() or None
        if guid and len(guid) > _MAX_URL_CHARS:
            guid = None
    link = absolute_http_url(_str(item.get("url")), base_url)
    if link is None:
        link = absolute_http_url(_str(item.get("external_url")), base_url)
    if link and len(link) > _MAX_URL_CHARS:
        link = None
    content_html = _str(item.get("content_html"))
    if content_html:
        content = sanitize_html(cap(content_html, max_chars), base_url=link or base_url)
    else:
        content = text_to_html(cap(_str(item.get("content_text")), max_chars))
    published = read_date(item.get("date_published"), now=now)
    updated = read_date(item.get("date_modified"), now=now)
    return FeedEntry(
        guid=guid,
        link=link,
        title=cap(
            html_to_text(cap(_str(item.get("title")), max_chars), single_line=True), max_chars
        ),
        summary=cap(html_to_text(cap(_str(item.get("summary")), max_chars)), max_chars),
        content=cap(content, max_chars),
        published_at=published.utc,
        updated_at=updated.utc,
        authors=_authors(item) or feed_authors,
        date_error=describe_problems(("date_published", published), ("date_modified", updated)),
    )


def _authors(obj: Mapping[str, Any]) -> list[str]:
    people = obj.get("authors")
    if not isinstance(people, list):
        single = obj.get("author")  # JSON Feed 1.0
        people = [single] if single is not None else []
    names = [p.get("name") for p in people if isinstance(p, Mapping)]
    return clean_authors(n for n in names if isinstance(n, str))
