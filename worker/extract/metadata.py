"""Page metadata that trafilatura does not report with its origin: JSON-LD and meta-tag dates,
canonical link, language, site name and image.

Usage::

    from worker.extract.metadata import read_page_metadata

    meta = read_page_metadata(tree, url="https://example.com/news/1")
    meta.published[0]          # DateText("jsonld", "datePublished", "2024-05-17T10:00:00+02:00")
    meta.canonical_url, meta.language

Only reads the tree (trafilatura works on its own copy afterwards). Dates stay *text* here, in
order of trust: :mod:`worker.extract.dates` reads and checks them (and says why one was
refused); nothing here guesses dates from free text, that is htmldate's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from courlan import extract_domain
from lxml import etree
from lxml.html import HtmlElement

from models import DateSource
from worker.text.normalize import clean_authors, squash_spaces
from worker.text.sanitize import absolute_http_url

DEFAULT_MAX_JSONLD_CHARS = 1_000_000
"""A JSON-LD block larger than this is skipped (nobody needs a megabyte of metadata)."""
DEFAULT_MAX_DATE_TEXTS = 64
"""Date texts kept per kind: a page with more is a listing, and the first ones decide."""

# Meta names (property=, name=, itemprop=; compared lowercased) in order of trust.
PUBLISHED_META = (
    "article:published_time", "og:article:published_time", "og:published_time",
    "datepublished", "article.published", "publication_date", "publish-date", "publishdate",
    "published_time", "pubdate", "parsely-pub-date", "sailthru.date", "dc.date.issued",
    "dcterms.issued", "dcterms.created", "dc.date.created", "dc.date", "dcterms.date", "date",
    "citation_publication_date", "citation_date", "originalpublicationdate",
    "article_date_original", "cxenseparse:recs:publishtime", "og:pubdate", "rnews:datepublished",
)  # fmt: skip
MODIFIED_META = (
    "article:modified_time", "og:article:modified_time", "datemodified", "og:updated_time",
    "article.updated", "last-modified", "lastmod", "dcterms.modified", "dc.date.modified",
    "modified_time", "updated_time", "parsely-updated", "article:updated_time",
)  # fmt: skip
_ARTICLE_TYPES = frozenset(
    t.lower()
    for t in (
        "Article", "NewsArticle", "ReportageNewsArticle", "AnalysisNewsArticle", "BlogPosting",
        "OpinionNewsArticle", "BackgroundNewsArticle", "LiveBlogPosting", "TechArticle",
        "ScholarlyArticle", "Report", "SocialMediaPosting", "Review", "VideoObject", "Blog",
    )
)  # fmt: skip
_JSONLD_DATE_KEYS = ("datePublished", "dateModified", "dateCreated", "uploadDate")
_LANG_RE = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class DateText:
    """A date as the markup spells it, and where: ``source`` is ``jsonld`` or ``meta``,
    ``field`` the JSON-LD key or meta name."""

    source: str
    field: str
    text: str


@dataclass(frozen=True)
class PageMetadata:
    """What the page's markup declares about itself.

    ``published`` and ``modified`` are the dates declared for the article, most trusted
    first (the article-typed JSON-LD object, then meta names in :data:`PUBLISHED_META` /
    :data:`MODIFIED_META` order); ``other_dates`` every further date the markup spells
    (other JSON-LD objects, ``<time datetime>``), used to learn the publisher's UTC offset.
    """

    published: tuple[DateText, ...] = ()
    modified: tuple[DateText, ...] = ()
    other_dates: tuple[str, ...] = ()
    jsonld_authors: tuple[str, ...] = ()
    canonical_url: str | None = None
    language: str | None = None
    site_name: str | None = None
    image_url: str | None = None


def read_page_metadata(tree: HtmlElement, *, url: str) -> PageMetadata:
    """Collect JSON-LD and meta-tag metadata of the parsed page ``tree`` fetched from ``url``."""
    metas = _meta_values(tree)
    best, others, authors = _jsonld(tree)
    published = _dates(best, "datePublished") + _meta_dates(metas, PUBLISHED_META)
    modified = _dates(best, "dateModified") + _meta_dates(metas, MODIFIED_META)
    other_dates = others + [str(t.get("datetime")) for t in tree.iter("time") if t.get("datetime")]
    return PageMetadata(
        published=published[:DEFAULT_MAX_DATE_TEXTS],
        modified=modified[:DEFAULT_MAX_DATE_TEXTS],
        other_dates=tuple(other_dates[:DEFAULT_MAX_DATE_TEXTS]),
        jsonld_authors=tuple(authors),
        canonical_url=_canonical(tree, metas, url),
        language=_language(tree, metas),
        site_name=_first_text(metas, ("og:site_name", "application-name", "twitter:site")),
        image_url=absolute_http_url(
            _first_text(metas, ("og:image", "og:image:url", "og:image:secure_url",
                                "twitter:image", "twitter:image:src")),
            url,
        ),
    )  # fmt: skip


# Compiled once; relative, so that a tree that is one element of a larger document is read
# alone (``//`` would search the whole document).
_ITEMPROP_VALUES = etree.XPath(
    "descendant-or-self::*[@itemprop][@datetime or @content][not(self::meta)]"
)


def _meta_values(tree: HtmlElement) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for element in tree.iter("meta"):
        content = element.get("content")
        if not content or not content.strip():
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = element.get(attr)
            if key:
                values.setdefault(key.strip().lower(), []).append(content.strip())
    # <time itemprop="datePublished" datetime="..."> and friends count as meta data too.
    for element in cast(list[HtmlElement], _ITEMPROP_VALUES(tree)):
        key = str(element.get("itemprop", "")).strip().lower()
        value = element.get("datetime") or element.get("content")
        if key and value:
            values.setdefault(key, []).append(value.strip())
    return values


def _meta_dates(metas: dict[str, list[str]], keys: tuple[str, ...]) -> tuple[DateText, ...]:
    return tuple(
        DateText(DateSource.META, key, value) for key in keys for value in metas.get(key, ())
    )


def _dates(obj: dict[str, Any] | None, key: str) -> tuple[DateText, ...]:
    value = _scalar(obj.get(key)) if obj is not None else None
    return (DateText(DateSource.JSONLD, key, value),) if value else ()


def _first_text(metas: dict[str, list[str]], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        for value in metas.get(key, ()):
            text = squash_spaces(value)
            if text:
                return text[:500]
    return None


def _jsonld(tree: HtmlElement) -> tuple[dict[str, Any] | None, list[str], list[str]]:
    """The object that dates the page (article-typed preferred), the date texts of all the
    others, and the author names of the one that dates the page."""
    best: tuple[int, dict[str, Any]] | None = None
    dated: list[dict[str, Any]] = []
    for script in tree.xpath('//script[contains(translate(@type, "LDJSON", "ldjson"), "ld+json")]'):
        raw = script.text_content()
        if not raw or len(raw) > DEFAULT_MAX_JSONLD_CHARS:
            continue
        try:
            data = json.loads(raw, strict=False)
        except (ValueError, RecursionError):
            continue
        for obj in _walk(data):
            if not any(key in obj for key in _JSONLD_DATE_KEYS):
                continue
            dated.append(obj)
            if "datePublished" not in obj and "dateModified" not in obj:
                continue
            rank = 0 if _types(obj) & _ARTICLE_TYPES else 1
            if best is None or rank < best[0]:
                best = (rank, obj)
    if best is None:
        return None, [], []
    others = [
        text
        for obj in dated
        for key in _JSONLD_DATE_KEYS
        if obj is not best[1] and (text := _scalar(obj.get(key)))
    ]
    return best[1], others, clean_authors(_author_names(best[1].get("author")))


def _walk(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            yield from _walk(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        for key in ("@graph", "mainEntity", "mainEntityOfPage", "itemListElement"):
            if key in data:
                yield from _walk(data[key], depth + 1)


def _types(obj: dict[str, Any]) -> set[str]:
    raw = obj.get("@type")
    items = raw if isinstance(raw, list) else [raw]
    return {str(t).lower() for t in items if isinstance(t, str)}


def _scalar(value: Any) -> str | None:
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _author_names(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items[:20]:
        if isinstance(item, str):
            names.append(item)
        elif (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and "organization" not in _types(item)
        ):
            names.append(item["name"])
    return names


def _canonical(tree: HtmlElement, metas: dict[str, list[str]], url: str) -> str | None:
    """rel=canonical, else og:url: absolute http(s), and never a bare homepage for an article."""
    candidates = [
        str(link.get("href"))
        for link in tree.xpath('//link[@href][contains(translate(@rel, "CANONICAL", "canonical"), '
                               '"canonical")]')
    ] + metas.get("og:url", [])  # fmt: skip
    page = urlsplit(url)
    for candidate in candidates:
        absolute = absolute_http_url(candidate, url)
        if absolute is None:
            continue
        parts = urlsplit(absolute)
        if parts.path in ("", "/") and not parts.query and page.path not in ("", "/"):
            continue  # CMS templates that point every page at the homepage
        if not _sane_domain(parts.hostname, page.hostname):
            continue
        return absolute
    return None


def _sane_domain(candidate: str | None, page: str | None) -> bool:
    if not candidate:
        return False
    if not page or candidate == page:
        return True
    # Cross-domain canonicals are legitimate (syndicated copies point at the original), but
    # a bare IP or localhost name is not a publisher.
    domain = extract_domain(f"http://{candidate}/", fast=True)
    return bool(domain) and "." in candidate and not candidate.replace(".", "").isdigit()


def _language(tree: HtmlElement, metas: dict[str, list[str]]) -> str | None:
    candidates = [
        tree.get("lang"),
        tree.get("xml:lang"),
        tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
    ]
    candidates += metas.get("content-language", []) + metas.get("og:locale", [])
    candidates += metas.get("language", []) + metas.get("dc.language", [])
    for value in candidates:
        if not value:
            continue
        match = _LANG_RE.match(value.split(",")[0].strip())
        if match:
            return match.group(1).lower()
    return None
