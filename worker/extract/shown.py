"""The date a page shows beside its headline: the article's date as its reader sees it.

Usage::

    from worker.extract.headline import around_headline
    from worker.extract.shown import labelled_date, shown_date

    shown = shown_date(around_headline(tree))
    shown.value      # datetime(2020, 1, 19, tzinfo=UTC): the day (no offset is known)
    shown.text       # "January 19, 2020 / 12:25 PM / Updated 8 hours ago": what was read
    shown.swappable  # True for "06/01/2020": day and month may be the other way round
    labelled_date(tree)   # "Published on 3 June 2020" anywhere on the page, or None

A date in the text right above the headline (a dateline, a kicker) or right below it (the
byline) is the one the publisher shows its reader: the nearest (:mod:`worker.extract.headline`
finds the headline and what is near it). Texts are read by htmldate's own reader of
date-like text (``htmldate.extractors.try_date_expr``: numeric dates, month names in
English, French, German, Turkish, ...) without dateparser, which would cost tens of
milliseconds a text; the full-page scan is the last resort of :mod:`worker.extract.dates`.
Only reads the tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from htmldate.extractors import try_date_expr
from lxml.html import HtmlElement

from worker.extract.headline import Surroundings

# Every text a reader may see on the page, form controls aside.
_ALL = (
    ".//text()[not(parent::script or parent::style or parent::noscript"
    " or parent::template or parent::option or parent::button)]"
)
# "Published" in the languages htmldate reads month names of, and their neighbours; not
# "updated": that is a modification.
_PUBLISHED_RE = re.compile(
    r"\b(?:published|posted|veröffentlicht|erschienen|publiée?|publicad[oa]|pubblicat[oa]"
    r"|gepubliceerd|publicerad|publiceret|publisert|opublikowano|julkaistu|yay\u0131nland\u0131"
    r"|yay\u0131mland\u0131|опубликовано)\b",
    re.IGNORECASE,
)
# Where a labelled date is read: German puts the verb last ("am 3. Mai 2020 veröffentlicht").
_LABEL_BEFORE = 40
_LABEL_AFTER = 60
_FIRST_RE = re.compile(r"(?<!\d)0?1(?!\d)")
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


def shown_date(around: Surroundings, *, now: datetime | None = None) -> ShownDate | None:
    """The date nearest to the page's headline, or ``None`` (no headline, or no date near it)."""
    # A day, not a moment: htmldate caches its readings by their arguments.
    latest = datetime.combine((now or datetime.now(UTC)).date(), time()) + _MAX_AHEAD
    for text in around.nearest():
        found = _read_day(text, latest)
        if found is not None:
            return ShownDate(found, text, _AMBIGUOUS_RE.search(text) is not None)
    return None


def labelled_date(tree: HtmlElement, *, now: datetime | None = None) -> ShownDate | None:
    """The first date the page labels as its publication, anywhere on it ("Published on
    3 June 2020", "Veröffentlicht am 16.08.2019", "am 3. Dezember 2011 veröffentlicht")."""
    latest = datetime.combine((now or datetime.now(UTC)).date(), time()) + _MAX_AHEAD
    # One string: the label and its date are often apart ("Published <time>3 June</time>").
    body = tree.find("body")  # none on a malformed page: lxml's root is then its first tag
    nodes = (body if body is not None else tree).xpath(_ALL)
    text = " ".join(" ".join(str(node).split()) for node in nodes)
    for label in _PUBLISHED_RE.finditer(text):
        after = text[label.start() : label.end() + _LABEL_AFTER]
        before = text[max(0, label.start() - _LABEL_BEFORE) : label.end()]
        for around in (after, before):
            found = _read_day(around, latest)
            if found is not None:
                return ShownDate(found, around, _AMBIGUOUS_RE.search(around) is not None)
    return None


def _read_day(text: str, latest: datetime) -> datetime | None:
    """The day ``text`` spells, or ``None``."""
    found = try_date_expr(text, _ISO_DAY, False, _MIN_DATE, latest)
    if found is None:
        return None
    value = datetime.strptime(found, _ISO_DAY).replace(tzinfo=UTC)
    # htmldate reads "02/2022" as February 1st: a day must be written.
    return value if value.day != 1 or _FIRST_RE.search(text) else None
