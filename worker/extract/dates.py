"""Publication and modification dates of a page, each with where it came from.

Usage::

    from worker.extract.dates import resolve_dates

    dates = resolve_dates(meta, url=page_url, text_scan=trafilatura_date)
    dates.published_at, dates.published_source   # e.g. (datetime(..., tzinfo=UTC), "jsonld")

Order of trust, first hit wins: JSON-LD (``datePublished`` / ``dateModified``), meta tags
(``article:published_time``, ``og:*``, ``itemprop``, Dublin Core, ...), the URL
(``/2024/05/17/``, via htmldate), then htmldate's scan of the rest of the page (``text``: time
elements, date-like classes, free text). The modification date has no URL or text step: a
"latest date on the page" is more often a comment or a copyright year than an update.
Dates are aware UTC, naive ones taken as UTC; dates before 1970 or in the future are dropped.
(Measured and rejected: letting a URL date override a markup date more than 36 h away from it;
it fixed pages whose JSON-LD carries an update as datePublished but broke as many others.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import lxml.html
from htmldate import find_date

from worker.extract.metadata import PageMetadata
from worker.text.dates import parse_datetime, sane_datetime

SOURCE_JSONLD = "jsonld"
SOURCE_META = "meta"
SOURCE_URL = "url"
SOURCE_TEXT = "text"


@dataclass(frozen=True)
class PageDates:
    published_at: datetime | None = None
    published_source: str | None = None
    modified_at: datetime | None = None
    modified_source: str | None = None


def resolve_dates(
    meta: PageMetadata, *, url: str, text_scan: str | None, now: datetime | None = None
) -> PageDates:
    """Pick published/modified dates. ``text_scan`` is htmldate's extensive result (string)."""
    published: list[tuple[datetime | None, str]] = [
        (meta.jsonld_published, SOURCE_JSONLD),
        (meta.meta_published, SOURCE_META),
    ]
    published_at, published_source = _first(published, now)
    if published_at is None:
        for candidate_url in (url, meta.canonical_url):
            published_at, published_source = _first([(url_date(candidate_url), SOURCE_URL)], now)
            if published_at is not None:
                break
    if published_at is None:
        published_at, published_source = _first([(parse_datetime(text_scan), SOURCE_TEXT)], now)
    modified_at, modified_source = _first(
        [(meta.jsonld_modified, SOURCE_JSONLD), (meta.meta_modified, SOURCE_META)], now
    )
    if modified_at is not None and published_at is not None and modified_at < published_at:
        # An "update" before the publication is a template error; keep the publication date.
        modified_at, modified_source = None, None
    return PageDates(published_at, published_source, modified_at, modified_source)


def url_date(url: str | None) -> datetime | None:
    """The date spelled in a URL path (``/2024/05/17/``, ``-2024-05-17``), else ``None``."""
    if not url:
        return None
    # htmldate reads the URL before the document; an empty document makes it read nothing else.
    # (A tree, never a string: htmldate downloads strings that look like URLs.)
    empty = lxml.html.fromstring("<html><body><p></p></body></html>")
    try:
        found = find_date(empty, url=url, extensive_search=False, original_date=True)
    except (ValueError, TypeError):
        return None
    return parse_datetime(found)


def _first(
    candidates: list[tuple[datetime | None, str]], now: datetime | None
) -> tuple[datetime | None, str | None]:
    for value, source in candidates:
        sane = sane_datetime(value, now=now)
        if sane is not None:
            return sane, source
    return None, None
