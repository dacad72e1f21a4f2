"""Bytes of a feed document in, a normalized :class:`ParsedFeed` out.

Usage::

    from worker.feeds import FeedParseError, parse_feed

    try:
        feed = parse_feed(body, url=response_url, content_type=response.headers.get("content-type"))
    except FeedParseError as err:
        record_failure(err.error_class, str(err))
    else:
        for entry in feed.entries:  # newest first, at most max_entries
            ...

RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and CDF go through feedparser, always as bytes (given a string,
feedparser would open URLs and files). JSON Feed 1.0/1.1 is parsed by :mod:`worker.feeds.jsonfeed`.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from models import ErrorClass
from worker.feeds.jsonfeed import looks_like_json, parse_json_feed
from worker.feeds.records import FeedEntry, FeedParseError, ParsedFeed, dropped_urls_note
from worker.feeds.xmlsafety import neutralize_dtd
from worker.text.dates import DateReading, describe_problems, read_date
from worker.text.normalize import (
    cap,
    clean_authors,
    html_to_text,
    plain_text,
    strip_control_chars,
)
from worker.text.sanitize import absolute_http_url, sanitize_html, text_to_html

DEFAULT_MAX_ENTRIES = 1_000
"""Entries kept from one document (the newest when dates allow); matches the settings default."""
DEFAULT_MAX_FIELD_CHARS = 100_000
"""Cap on any one text field (title, summary, content, ...); matches the settings default."""
DEFAULT_MAX_URL_CHARS = 2_048
"""Longer links or GUIDs are dropped (``None``), not cut: a cut URL or key is a wrong one."""
DEFAULT_MAX_TTL_S = 7 * 86_400
"""A declared TTL beyond a week is treated as an error in the feed, not as a request."""

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel", "rdf:rdf"})
_HTML_ROOTS = frozenset({"html", "head", "body"})
_TAG_RE = re.compile(r"</?[A-Za-z][\w:-]*(\s[^<>]*)?/?>")
_ROOT_RE = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_UPDATE_PERIOD_S = {"hourly": 3_600, "daily": 86_400, "weekly": 604_800,
                    "monthly": 2_592_000, "yearly": 31_536_000}  # fmt: skip
# bozo exceptions that say nothing about the document itself.
_HARMLESS_BOZO = (feedparser.NonXMLContentType,)


def parse_feed(
    content: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
) -> ParsedFeed:
    """Parse one feed document.

    ``url`` is the URL the bytes came from (after redirects): relative links resolve against
    it (and ``xml:base``). ``content_type`` is the response header, charset included, so the
    declared charset is honoured. Raises :class:`FeedParseError` when nothing usable is found.
    """
    if not content or not content.strip():
        raise FeedParseError(ErrorClass.EMPTY, "empty response body: no feed document")
    if looks_like_json(content, content_type):
        return parse_json_feed(
            content,
            url=url,
            content_type=content_type,
            max_entries=max_entries,
            max_field_chars=max_field_chars,
        )
    return _parse_xml_feed(
        content,
        url=url,
        content_type=content_type,
        max_entries=max_entries,
        max_field_chars=max_field_chars,
    )


def _parse_xml_feed(
    content: bytes, *, url: str, content_type: str | None, max_entries: int, max_field_chars: int
) -> ParsedFeed:
    safe, dtd_removed = neutralize_dtd(content)
    # No Content-Location on purpose: feedparser would resolve every RSS <guid> against it
    # ("c1" -> "https://host/c1"), making GUIDs depend on the feed's URL. Links are resolved
    # below, against the feed URL and any xml:base feedparser reports.
    headers = {"content-type": content_type} if content_type else {}
    result = feedparser.parse(safe, response_headers=headers)

    version = str(result.get("version") or "")
    raw_entries: Sequence[Mapping[str, Any]] = result.get("entries") or []
    channel: Mapping[str, Any] = result.get("feed") or {}
    root = _root_name(safe)
    feedlike = bool(version) or (root is not None and root in _FEED_ROOTS)
    if root in _HTML_ROOTS or (not raw_entries and not feedlike):
        raise _not_usable(root, result, content_type)

    bozo, reason = _bozo(result)
    # Atom declares text vs HTML; for RSS feedparser's "text/plain" is only a guess.
    typed = version.startswith("atom")
    taken = _newest_entries(
        raw_entries,
        url,
        max_entries,
        max_field_chars,
        dc_date_is_published=version.startswith("rss"),
        typed=typed,
    )
    dropped = dropped_urls_note(
        [_raw(raw, key) for raw in taken.raw for key in ("link", "id")], DEFAULT_MAX_URL_CHARS
    )
    if dropped:
        bozo, reason = True, dropped + (f"; {reason}" if reason else "")
    if dtd_removed:
        bozo = True
        reason = "internal DTD subset removed (entity declarations are not accepted)" + (
            f"; {reason}" if reason else ""
        )
    title = _plain(channel.get("title_detail"), channel.get("title"), max_field_chars, True, typed)
    site_url = absolute_http_url(channel.get("link"), url)
    description = _plain(
        channel.get("subtitle_detail"), channel.get("subtitle"), max_field_chars, False, typed
    )
    if not raw_entries and not (title or site_url or description) and (bozo or not version):
        raise FeedParseError(
            ErrorClass.MALFORMED,
            f"{version or root or 'feed'} document with no entries and no channel fields"
            + (f": {reason}" if reason else ""),
        )

    return ParsedFeed(
        format=version or "unknown",
        title=title,
        site_url=site_url,
        description=description,
        ttl_s=_ttl_seconds(channel),
        entries=taken.entries,
        bozo=bozo,
        bozo_reason=cap(reason, 500),
    )


def _not_usable(root: str | None, result: Mapping[str, Any], content_type: str | None) -> Exception:
    mime = (content_type or "").split(";")[0].strip().lower()
    if root in _HTML_ROOTS or (root is None and mime in _HTML_TYPES):
        return FeedParseError(ErrorClass.NOT_A_FEED, "an HTML page, not a feed")
    if root is not None and root.lower() in _FEED_ROOTS:
        _, reason = _bozo(result)
        return FeedParseError(
            ErrorClass.MALFORMED, f"<{root}> document broken beyond use: {reason}"
        )
    if root is not None:
        return FeedParseError(
            ErrorClass.NOT_A_FEED, f"an XML document with root <{root}>, not a feed"
        )
    return FeedParseError(ErrorClass.NOT_A_FEED, "neither XML nor JSON: not a feed")


def _root_name(content: bytes) -> str | None:
    """The first element name in the document (ASCII-compatible encodings only), lowercased."""
    head = content[:65_536]
    if b"\x00" in head[:4]:
        head = head.replace(b"\x00", b"")  # UTF-16/32: good enough to read an ASCII tag name
    # Skip comments, PIs and declarations: the first "<name" after them is the root.
    head = re.sub(rb"<!--.*?-->|<\?.*?\?>|<![^>]*>", b"", head, flags=re.S)
    match = _ROOT_RE.search(head)
    return match.group(1).decode("ascii", "replace").lower() if match else None


def _bozo(result: Mapping[str, Any]) -> tuple[bool, str | None]:
    if not result.get("bozo"):
        return False, None
    exc = result.get("bozo_exception")
    if isinstance(exc, _HARMLESS_BOZO):
        return False, None
    return True, strip_control_chars(f"{type(exc).__name__}: {exc}") if exc else "malformed"


def _ttl_seconds(channel: Mapping[str, Any]) -> int | None:
    seconds: int | None = None
    try:
        ttl = channel.get("ttl")
        if ttl is not None:
            seconds = int(str(ttl).strip()) * 60
        else:
            period = str(channel.get("sy_updateperiod") or "").strip().lower()
            frequency = int(str(channel.get("sy_updatefrequency") or "1").strip() or "1")
            if period in _UPDATE_PERIOD_S and frequency > 0:
                seconds = _UPDATE_PERIOD_S[period] // frequency
    except ValueError:
        return None
    if seconds is None or seconds <= 0 or seconds > DEFAULT_MAX_TTL_S:
        return None
    return seconds


def _newest_entries(
    raw_entries: Sequence[Mapping[str, Any]],
    base_url: str,
    max_entries: int,
    max_chars: int,
    *,
    dc_date_is_published: bool,
    typed: bool,
) -> _Taken:
    now = datetime.now(UTC)
    dated = []
    for raw in raw_entries:
        published_reading = _entry_date(raw, "published", now)
        updated_reading = _entry_date(raw, "updated", now)
        published, updated = published_reading.utc, updated_reading.utc
        if published is None and dc_date_is_published:
            # RSS items dated only by <dc:date> (feedparser files it as "updated"): in RSS
            # that element is the item's date, i.e. its publication.
            published = updated
        problems = describe_problems(("published", published_reading), ("updated", updated_reading))
        dated.append((published, updated, problems, raw))
    if dated and all(p or u for p, u, _, _ in dated):
        # sorted() is stable: entries with equal dates keep document order.
        dated.sort(key=lambda item: item[0] or item[1] or now, reverse=True)
    kept = dated[: max(0, max_entries)]
    return _Taken(
        [
            _entry(raw, published, updated, problems, base_url, max_chars, typed)
            for published, updated, problems, raw in kept
        ],
        [raw for _, _, _, raw in kept],
    )


@dataclass(frozen=True)
class _Taken:
    entries: list[FeedEntry]
    raw: list[Mapping[str, Any]]  # what feedparser gave for each


def _entry(
    raw: Mapping[str, Any],
    published: datetime | None,
    updated: datetime | None,
    date_error: str | None,
    base_url: str,
    max_chars: int,
    typed: bool,
) -> FeedEntry:
    guid = _guid(_raw(raw, "id"))
    raw_link = _url_field(_raw(raw, "link"))
    if raw_link is not None and raw_link == guid and absolute_http_url(guid, None) is None:
        raw_link = None  # feedparser copied a non-URL <guid> ("c1") into the link
    link = absolute_http_url(raw_link, base_url)
    return FeedEntry(
        guid=guid,
        link=link,
        title=_plain(raw.get("title_detail"), raw.get("title"), max_chars, True, typed),
        summary=_plain(raw.get("summary_detail"), raw.get("summary"), max_chars, False, typed),
        content=_content(_raw(raw, "content"), base_url, max_chars),
        published_at=published,
        updated_at=updated,
        authors=_authors(raw),
        date_error=cap(date_error, DEFAULT_MAX_URL_CHARS),
    )


def _raw(entry: Mapping[str, Any], key: str) -> Any:
    # dict.get, not entry.get: feedparser's dict answers some missing keys with others
    # ("updated_parsed" with published_parsed, a deprecated fallback).
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def _entry_date(entry: Mapping[str, Any], key: str, now: datetime) -> DateReading:
    """The entry's date, read strictly from its text, checked for plausibility.

    feedparser's own parse is the fallback for formats dateutil does not know; it is not
    trusted with a text that leaves out the year or the day (it fills them in).
    """
    parsed = _struct_to_dt(_raw(entry, f"{key}_parsed"))
    return read_date(_raw(entry, key), now=now, fallback=parsed)


def _struct_to_dt(value: Any) -> datetime | None:
    # feedparser normalizes every date it understands to a UTC struct_time.
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _url_field(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > DEFAULT_MAX_URL_CHARS:
        return None
    return value


def _guid(value: Any) -> str | None:
    if value is None:
        return None
    guid = strip_control_chars(str(value)).strip()
    if not guid or len(guid) > DEFAULT_MAX_URL_CHARS:
        return None
    return guid


def _plain(
    detail: Any, fallback: Any, max_chars: int, single_line: bool, typed: bool
) -> str | None:
    value = detail.get("value") if isinstance(detail, Mapping) else fallback
    if not isinstance(value, str):
        return None
    # Cut before converting (a 5 MB description must not be parsed whole), then after.
    value = cap(value, max_chars * 2) or ""
    mime = detail.get("type") if isinstance(detail, Mapping) else None
    if mime == "text/plain" and (typed or not _TAG_RE.search(value)):
        # Declared text ("<script> tags explained" is an Atom title, not markup), or RSS
        # text without tags. Only entities left by double escaping ("&amp;amp;") are decoded.
        return cap(plain_text(value, single_line=single_line), max_chars)
    # HTML, or RSS text that carries tags feedparser did not trust (<script>, <iframe>):
    # reduced to its text, scripts and styles dropped.
    return cap(html_to_text(value, single_line=single_line), max_chars)


def _content(contents: Any, base_url: str, max_chars: int) -> str | None:
    if not isinstance(contents, list) or not contents:
        return None
    html_parts = [c for c in contents if isinstance(c, Mapping) and _is_html(c.get("type"))]
    chosen = html_parts[0] if html_parts else contents[0]
    if not isinstance(chosen, Mapping):
        return None
    value = chosen.get("value")
    if not isinstance(value, str):
        return None
    value = cap(value, max_chars) or ""
    if _is_html(chosen.get("type")):
        base = urljoin(base_url, chosen.get("base") or "")
        return cap(sanitize_html(value, base_url=base), max_chars)
    return cap(text_to_html(value), max_chars)


def _is_html(mime: Any) -> bool:
    return isinstance(mime, str) and (mime in _HTML_TYPES or mime.endswith("html"))


def _authors(raw: Mapping[str, Any]) -> list[str]:
    names: list[str | None] = []
    for author in raw.get("authors") or []:
        if isinstance(author, Mapping):
            names.append(author.get("name"))
    if not any(names):
        # RSS <author>jane@example.com (Jane Doe)</author>, dc:creator
        names = [raw.get("author")]
    return clean_authors(html_to_text(n, single_line=True) for n in names if isinstance(n, str))
