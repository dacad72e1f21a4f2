"""The date a page shows beside its headline: the article's date as its reader sees it.

Usage::

    from worker.extract.shown import shown_date

    shown = shown_date(tree)
    shown.value      # datetime(2020, 1, 19, tzinfo=UTC): the day (no offset is known)
    shown.text       # "January 19, 2020 / 12:25 PM / Updated 8 hours ago": what was read
    shown.swappable  # True for "06/01/2020": day and month may be the other way round

The headline is the ``<h1>``/``<h2>`` that the page's title (``og:title``, ``<title>``)
contains, the longest one; without one, the first ``<h1>``. A date in the text right above
it (a dateline, a kicker) or right below it (the byline) is the one the publisher shows
its reader: the nearest, within :data:`DEFAULT_BEFORE_CHARS` before and
:data:`DEFAULT_AFTER_CHARS` after. Texts are read by htmldate's own reader of date-like
text (numeric dates, month names in English, French, German, Turkish, ...) without
dateparser, which would cost tens of milliseconds a text; the full-page scan is the last
resort of :mod:`worker.extract.dates`. Only reads the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from htmldate.extractors import try_date_expr
from lxml.html import HtmlElement

DEFAULT_BEFORE_CHARS = 200
"""Text read above the headline: a dateline or kicker, not the page's navigation."""
DEFAULT_AFTER_CHARS = 300
"""Text read below the headline: the byline and a standfirst, not the article's body."""
DEFAULT_MIN_HEADLINE_CHARS = 8
"""A shorter heading is a section name or a logo, not a headline."""

# Text no reader sees, and form controls (a date picker's options are not the page's date).
_TEXT = (
    ".//text()[not(ancestor::script or ancestor::style or ancestor::noscript"
    " or ancestor::template or ancestor::select or ancestor::button)]"
)
_TITLES = (
    "//meta[@property='og:title' or @name='og:title' or @name='twitter:title']/@content"
    "|//title/text()"
)
_NON_WORD_RE = re.compile(r"\W+")
# Day and month both written as numbers up to 12: either order reads as a date.
_AMBIGUOUS_RE = re.compile(
    r"(?<!\d)(?:0?[1-9]|1[0-2])[./-](?:0?[1-9]|1[0-2])[./-](?:\d{4}|\d{2})(?!\d)"
)
_ISO_DAY = "%Y-%m-%d"
# htmldate's own lower bound: its readers know no year before it.
_MIN_DATE = datetime(1995, 1, 1)
_MAX_AHEAD = timedelta(days=2)


@dataclass(frozen=True)
class ShownDate:
    """A day shown beside the headline: ``value`` at midnight UTC, ``text`` what was read."""

    value: datetime
    text: str
    swappable: bool = False

    @property
    def swapped(self) -> datetime | None:
        """The other reading of an all-numeric day and month (``None`` when there is none)."""
        if not self.swappable or self.value.day > 12 or self.value.day == self.value.month:
            return None
        return self.value.replace(month=self.value.day, day=self.value.month)


def shown_date(
    tree: HtmlElement,
    *,
    now: datetime | None = None,
    before: int = DEFAULT_BEFORE_CHARS,
    after: int = DEFAULT_AFTER_CHARS,
) -> ShownDate | None:
    """The date nearest to the page's headline, or ``None`` (no headline, or no date near it)."""
    headline = _headline(tree)
    if headline is None:
        return None
    inside = set(headline.iter())
    texts = list(_texts(tree, headline, inside))
    in_headline = [i for i, (_, _, own) in enumerate(texts) if own]
    if not in_headline:
        return None
    start = texts[in_headline[0]][0]
    end = texts[in_headline[-1]][0] + len(texts[in_headline[-1]][1])
    near = [
        (offset - end if offset >= end else start - offset, text)
        for offset, text, own in texts
        if not own and (start - before <= offset < start or end <= offset <= end + after)
    ]
    # A day, not a moment: htmldate caches its readings by their arguments.
    latest = datetime.combine((now or datetime.now(UTC)).date(), time()) + _MAX_AHEAD
    for _distance, text in sorted(near, key=lambda item: item[0]):
        found = try_date_expr(text, _ISO_DAY, False, _MIN_DATE, latest)
        if found:
            value = datetime.strptime(found, _ISO_DAY).replace(tzinfo=UTC)
            return ShownDate(value, text, _AMBIGUOUS_RE.search(text) is not None)
    return None


def _headline(tree: HtmlElement) -> HtmlElement | None:
    titles = [_folded(str(t)) for t in tree.xpath(_TITLES)]
    titles = [t for t in titles if t]
    first_h1: HtmlElement | None = None
    best: tuple[int, HtmlElement] | None = None
    for heading in tree.xpath("//h1|//h2"):
        text = _folded(heading.text_content())
        if len(text) < DEFAULT_MIN_HEADLINE_CHARS:
            continue
        if first_h1 is None and heading.tag == "h1":
            first_h1 = heading
        if any(text in title for title in titles) and (best is None or len(text) > best[0]):
            best = (len(text), heading)
    return best[1] if best is not None else first_h1


def _texts(
    tree: HtmlElement, headline: HtmlElement, inside: set[HtmlElement]
) -> Iterator[tuple[int, str, bool]]:
    """The page's visible texts in reading order: (offset, text, part of the headline)."""
    body = tree.find("body")
    offset = 0
    for node in (body if body is not None else tree).xpath(_TEXT):
        text = str(node).strip()
        if not text:
            continue
        owner = node.getparent()
        own = owner in inside and not (node.is_tail and owner is headline)
        yield offset, text, own
        offset += len(text) + 1


def _folded(text: str) -> str:
    return _NON_WORD_RE.sub(" ", text).strip().casefold()
