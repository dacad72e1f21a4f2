"""One article page (bytes) into clean text and metadata.

Usage::

    from worker.extract import ExtractionError, extract_page

    try:
        page = extract_page(body, url=final_url, content_type=response.headers.get("content-type"))
    except ExtractionError as err:
        record_failure(err.error_class, str(err))
    else:
        page.text, page.title, page.authors, page.published_at, page.published_source

trafilatura finds the main text (precision mode, no comments) and the title, authors and
description; dates and their sources, the canonical link and the language come from
:mod:`worker.extract.metadata` and :mod:`worker.extract.dates`. Nothing here touches the
network: the page is parsed once, as a tree, from the bytes given.
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import lxml.html
import trafilatura
from lxml import etree
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction
from trafilatura.utils import is_dubious_html, repair_faulty_html

from models import ErrorClass
from worker.extract.boilerplate import drop_boilerplate
from worker.extract.byline import (
    prefer_shown,
    read_byline,
    shown_authors,
    with_initials,
    with_page_case,
)
from worker.extract.dates import PageDates, date_page, load_date_languages
from worker.extract.decode import decode_html
from worker.extract.headline import around_headline
from worker.extract.metadata import read_page_metadata
from worker.extract.site import SiteNames
from worker.extract.title import clean_title, page_headings
from worker.text.normalize import clean_authors, squash_spaces, strip_control_chars

DEFAULT_MAX_TEXT_CHARS = 500_000
"""Extracted text longer than this is cut (a book-length page is not an article)."""

DEFAULT_MAX_ELEMENTS = 25_000
"""Pages with more element start tags than this are refused before they are parsed.

The cost of a page is its number of elements, not its bytes: about 4 KB of memory and 0.1 ms
each, more than linearly once trafilatura walks a huge tree (9.5 MB of 400,000 links took
1.6 GB and 83 s; 9 MB of plain paragraphs stays within seconds). The largest of the 2,077
real pages of the extraction corpora has 10,126 (docs/runtime.md)."""

DEFAULT_FAVOR_PRECISION = True
"""trafilatura's precision mode: lose a borderline paragraph rather than store boilerplate."""

DEFAULT_FULL_CASCADE_BELOW_CHARS = 1_000
"""Main text shorter than this from trafilatura's fast pass is extracted again with its full
cascade (readability and jusText as fallbacks, compared with the main extractor).

The fallbacks cost about 40% of trafilatura's time on every page and change the text of few:
where the fast pass already finds an article-length text they rarely find a better one. On
the trafilatura evaluation set (docs/extraction.md, tuned on its ``tune`` half) F1 stays at
the full cascade's (held-out half 0.922 against 0.921) for 28% less of trafilatura's CPU."""

_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml", "text/plain")
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b",
                 b"RIFF", b"OggS", b"\x00\x00\x01\x00", b"ID3", b"wOFF", b"\x7fELF")  # fmt: skip

# One extraction at a time in a process. It is CPU work under the GIL, so threads gain nothing
# from running it at once, and on several cores they lose much: 8 threads extracting the same
# 300 pages on 2 cores took 72 ms of CPU a page against 37 for one thread, and 16 s against
# 11 (the GIL handed back and forth between cores). The threads of a one-off fetch still wait
# for the network side by side; a worker's pool processes are not slowed (one thread each).
_EXTRACTING = threading.Lock()

# trafilatura's parser settings (its ``load_html``), with the element classes looked up in C.
# lxml.html's parsers ask a Python method for the class of every element Python touches, and
# trafilatura touches each many times (every XPath result, every ancestor walk, every copy):
# about 3,600 calls a page, 4 % of an extraction. Here every element is an ``HtmlElement``;
# lxml.html's form classes (``FormElement``, ``InputElement`` ...) only add form helpers that
# nothing in the extraction uses. Copies of the tree keep its parser, so trafilatura's
# working copies look their classes up in C too.
_PARSER = etree.HTMLParser(  # type: ignore[call-arg]  # lxml-stubs lack default_doctype
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
)
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
    )
)

# A start tag: "<" and a letter (not "</", "<!--", "<!DOCTYPE", nor "<" in running text).
_START_TAG_RE = re.compile(r"<[A-Za-z]")


@dataclass(frozen=True)
class ExtractedPage:
    """The main text and metadata of an article page.

    ``text`` has one paragraph per block, separated by blank lines, without navigation,
    newsletter, cookie or paywall boilerplate. Dates are aware, in the offset the page gave
    (so their ``date()`` is the publisher's day; UTC when the page gave none); ``*_source``
    says where each came from: ``jsonld``, ``meta``, ``url``, ``shown`` or ``text``.
    ``date_error`` says why dates the page declared were refused (unreadable, no day, out of
    range, future).
    """

    title: str | None
    text: str | None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    published_source: str | None = None
    modified_at: datetime | None = None
    modified_source: str | None = None
    date_error: str | None = None
    language: str | None = None
    site_name: str | None = None
    image_url: str | None = None
    canonical_url: str | None = None
    description: str | None = None


class ExtractionError(Exception):
    """No main text in the body. ``error_class``: ``empty``, ``not_html``, ``no_text``, or
    ``too_complex`` (more elements than any article page has: refused unparsed).

    ``dates`` are the page's dates when it is HTML without main text (``no_text``): a
    video, a paywall or a redirect page is still dated by its markup.
    """

    def __init__(self, error_class: str, message: str, dates: PageDates | None = None) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.dates = dates

    def __reduce__(
        self,
    ) -> tuple[type[ExtractionError], tuple[str, str, PageDates | None]]:
        return (type(self), (self.error_class, str(self), self.dates))


def extract_page(
    html: bytes, *, url: str, content_type: str | None = None, guess_dates: bool = True
) -> ExtractedPage:
    """Extract the article of one HTML page fetched from ``url`` (after redirects).

    ``guess_dates=False`` when the caller already has a publication date it trusts more than
    a guess from the page's text (a feed's): a page that neither its markup nor its URL dates
    is then left undated rather than scanned (the scan is the costliest part of dating, and
    its guess would rank below the caller's date; see ``worker.extract.dates.date_page``).

    Threads of one process take turns (see ``_EXTRACTING``)."""
    with _EXTRACTING:
        return _extract_page(html, url=url, content_type=content_type, guess_dates=guess_dates)


def _extract_page(
    html: bytes, *, url: str, content_type: str | None, guess_dates: bool
) -> ExtractedPage:
    if not html or not html.strip():
        raise ExtractionError(ErrorClass.EMPTY, "empty response body: no page to extract")
    _refuse_non_html(html, content_type)
    text, _encoding = decode_html(html, content_type)
    text = strip_control_chars(text)
    if "<" not in text:
        raise ExtractionError(ErrorClass.NOT_HTML, "body has no markup: not an HTML page")
    _refuse_pathological(text)
    tree = _load_tree(text, stripped=True)
    if tree is None:
        raise ExtractionError(ErrorClass.NOT_HTML, "body could not be parsed as HTML")

    meta = read_page_metadata(tree, url=url)
    around = around_headline(tree)
    dates = date_page(meta, tree, url=url, guess=guess_dates, around=around)
    document = _trafilatura(tree, url)
    if document is None or not document.text:
        raise ExtractionError(ErrorClass.NO_TEXT, "no main text found on the page", dates)
    paragraphs = drop_boilerplate(
        squash_spaces(line) for line in document.text.split("\n") if line.strip()
    )
    body = "\n\n".join(p for p in paragraphs if p)
    if not body:
        raise ExtractionError(ErrorClass.NO_TEXT, "only boilerplate found on the page", dates)

    byline = read_byline(tree)
    found = clean_authors((byline.author or "").split(";")) or list(meta.jsonld_authors)
    authors = prefer_shown(found, shown_authors(around))
    site_name = meta.site_name or _clean(byline.sitename)
    # The outlet is not an author beside a person, nor part of the headline (docs/extraction.md).
    site = SiteNames(site_name, (url, meta.canonical_url))
    return ExtractedPage(
        title=clean_title(_clean(byline.title), site=site, headings=page_headings(tree)),
        text=body[:DEFAULT_MAX_TEXT_CHARS],
        authors=with_page_case(with_initials(site.without(authors), text), text),
        published_at=dates.published_at,
        published_source=dates.published_source,
        modified_at=dates.modified_at,
        modified_source=dates.modified_source,
        date_error=dates.date_error,
        language=meta.language or _clean(document.language),
        site_name=site_name,
        image_url=meta.image_url,
        canonical_url=meta.canonical_url,
        description=_clean(byline.description),
    )


# A short page (trafilatura's full cascade, jusText's stop lists) whose canonical link is on
# another site with a short name under a two-label suffix: courlan reads such a domain with
# the public suffix list, not its regular expression.
_WARM_UP_PAGE = (
    b'<html><head><title>Locks reopen</title><link rel="canonical" '
    b'href="https://www.abc.co.uk/2020/05/17/locks-reopen"></head><body><article>'
    b"<h1>Locks reopen</h1><p>The canal locks reopened on Tuesday after a winter of repairs to "
    b"the gates and the pumps along the eastern bank.</p></article></body></html>"
)


def warm_up() -> None:
    """Load now, once, what the first pages would otherwise each wait for: the date parser's
    languages (seconds), jusText's stop lists and the public suffix list (0.1-0.3 s each).

    A long-running process calls it at start-up: the worker does in its main process, before
    it forks its pool, so that every child shares what was loaded rather than paying for it
    on its first pages."""
    load_date_languages()
    # A page a future trafilatura finds no text in must not keep a worker from starting.
    with contextlib.suppress(ExtractionError):
        extract_page(_WARM_UP_PAGE, url="https://example.org/locks", content_type="text/html")


def _refuse_non_html(data: bytes, content_type: str | None) -> None:
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime and mime not in _HTML_TYPES and not mime.endswith("+xml"):
        raise ExtractionError(ErrorClass.NOT_HTML, f"content type {mime!r} is not an HTML page")
    head = data[:16].lstrip()
    if head.startswith(_BINARY_MAGIC):
        raise ExtractionError(
            ErrorClass.NOT_HTML, "binary content (file signature), not an HTML page"
        )


def _refuse_pathological(text: str) -> None:
    # Before any tree is built: a count of "<" is an upper bound, in C, that ends it for
    # nearly every page; only beyond it are the start tags themselves counted (~0.1 s).
    if text.count("<") <= DEFAULT_MAX_ELEMENTS:
        return
    elements = _START_TAG_RE.subn("", text)[1]
    if elements > DEFAULT_MAX_ELEMENTS:
        raise ExtractionError(
            ErrorClass.TOO_COMPLEX,
            f"page has {elements:,} elements, more than the {DEFAULT_MAX_ELEMENTS:,} an "
            "article page may have: refused before parsing",
        )


def _load_tree(text: str, *, stripped: bool = False) -> HtmlElement | None:
    """As trafilatura.load_html does for a decoded page, with _PARSER: the same repair of
    doctypes libxml2 trips on, the same fallback to UTF-8 bytes (a str that declares an
    encoding is refused by lxml), the same refusal of a "page" that is not HTML at all.
    ``stripped``: ``text`` has been through ``strip_control_chars`` (see ``_repaired``)."""
    beginning = text[:50].lower()
    text = _repaired(text, beginning) if stripped else repair_faulty_html(text, beginning)
    tree: HtmlElement | None = None
    with contextlib.suppress(ValueError, etree.LxmlError):
        tree = lxml.html.fromstring(text, parser=_PARSER)
    if tree is None or len(tree) < 1:
        with contextlib.suppress(ValueError, etree.LxmlError):
            tree = lxml.html.fromstring(text.encode("utf-8", "surrogatepass"), parser=_PARSER)
    if tree is not None and is_dubious_html(beginning) and len(tree) < 2:
        return None
    return tree


# trafilatura's repair first deletes the characters XML refuses from the whole page (~1.5 ms
# for a 170 KB page), which strip_control_chars has already done. What else it repairs, a
# doctype and a self-closed <html/>, lies on the first lines (it looks no further than the
# fourth), so only they are handed to it, when the page has more lines than that.
_REPAIRED_LINES = 5


def _repaired(text: str, beginning: str) -> str:
    end = -1
    for _ in range(_REPAIRED_LINES):
        end = text.find("\n", end + 1)
        if end == -1:
            return repair_faulty_html(text, beginning)
    return repair_faulty_html(text[: end + 1], beginning) + text[end + 1 :]


def _trafilatura(tree: HtmlElement, url: str) -> Any:
    # The fast pass decides pages where it finds an article's worth of text; a short or
    # empty result is where the fallback extractors earn their cost (see the constant).
    document = _trafilatura_pass(tree, url, fast=True)
    if document is None or len(document.text or "") < DEFAULT_FULL_CASCADE_BELOW_CHARS:
        document = _trafilatura_pass(tree, url, fast=False)
    return document


def _trafilatura_pass(tree: HtmlElement, url: str, *, fast: bool) -> Any:
    # The text only: the byline and dates are read apart (worker.extract.byline, .dates),
    # without the metadata work Storywire has no use for. trafilatura works on its own copy
    # of the tree, so the two passes see the same page.
    return trafilatura.bare_extraction(
        tree,
        url=url,
        fast=fast,
        favor_precision=DEFAULT_FAVOR_PRECISION,
        include_comments=False,
        include_tables=True,
        with_metadata=False,
    )


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return squash_spaces(strip_control_chars(value))[:2_000] or None
