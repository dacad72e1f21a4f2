"""Publication and modification dates of a page, each with where it came from.

Usage::

    from worker.extract.dates import date_page

    dates = date_page(meta, tree, url=page_url)
    dates.published_at, dates.published_source   # e.g. (datetime(..., +02:00), "jsonld")
    dates.date_error     # "jsonld datePublished '2999-01-01': in the future", or None

The rules, each measured on the htmldate evaluation set (``bench/extraction_eval.py``, figures
in ``docs/extraction.md``):

1. **The publisher's statement first**: the article's JSON-LD ``datePublished``, then meta
   names (``article:published_time``, ``og:*``, ``itemprop``, Dublin Core, ...). A declared
   date that is unreadable, has no day, is not after 1970 or lies in the future is refused,
   its reason kept, and the next one is tried.
2. **The publisher's offset**: a value in UTC takes the offset of the same moment written
   again on the page in local time (``sailthru.date``, a second JSON-LD object, a ``<time>``),
   so the day is the publisher's day. Only the offset changes, never the moment.
3. **What the page shows its reader** (:mod:`worker.extract.shown`: the date beside the
   headline) checks the markup: when it is the declared modification's day (another day
   than the publication's), the page was republished then and the modification is the date;
   when it is more than a day from the markup's (either reading of an all-numeric day and
   month), it is the date (``shown``); when a UTC value's day is the day before or after it,
   the value takes the nearest offset that puts it on that day. Without a date beside the
   headline, the day htmldate's fast scan finds in the body (markup left out) stands in for
   the republication rule.
4. **Without markup**: the URL's date (``/2024/05/17/``), then the date beside the headline,
   then a date the page labels as its publication ("Published on ...", both ``shown``),
   then htmldate's scan of the page (``text``; in its extensive mode, which reads free text
   in any language through dateparser, as only then is it the page's one source). A scanned
   January 1st is htmldate's stand-in for a bare year: refused.
5. **Modification**: markup only (a "latest date on the page" is more often a comment or a
   copyright year); one before the publication is a template error and dropped.

Values keep the offset the page gave (UTC when none); the moment is what gets stored.
Measured and rejected: a URL date overriding a markup date more than 36 h away from it;
the feed's or the scan's date overriding markup; the day before/after in the URL replacing
a UTC value's day (it is the same moment, the offset is unknown).
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import lxml.html
from htmldate import find_date
from lxml.html import HtmlElement

from models import DateSource
from worker.extract.headline import Surroundings, around_headline
from worker.extract.metadata import DateText, PageMetadata
from worker.extract.shown import ShownDate, labelled_date, shown_date
from worker.text.dates import parse_date, read_date

DEFAULT_MAX_OFFSET = timedelta(hours=14)
"""Widest UTC offset in use east (Line Islands, +14:00); a larger shift is not a time zone."""
DEFAULT_MIN_OFFSET = timedelta(hours=-12)
"""Widest UTC offset in use west (Baker Island, -12:00)."""
DEFAULT_MAX_DATE_ERROR_CHARS = 1_000
"""``date_error`` is cut here: the first refusals say enough."""
DEFAULT_SHOWN_SLACK_DAYS = 1
"""A shown day this close to the markup's is the same publication seen from another time
zone (or a late edit): the markup, which has the time, stays."""

_QUARTER_HOUR = timedelta(minutes=15)
# Given to htmldate for scans that must not read a date from the page's URL (that step came
# first) nor look for one in a canonical link: a URL without a date.
_NO_URL = "http://localhost/"
# Bodies are scanned without what only machines read: their dates are the markup's, and the
# point of the scan is what a reader sees.
_HIDDEN = ".//script|.//style|.//template|.//noscript|.//meta"


@dataclass(frozen=True)
class PageDates:
    published_at: datetime | None = None
    published_source: str | None = None
    modified_at: datetime | None = None
    modified_source: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def date_error(self) -> str | None:
        """Why declared dates were refused, one line (``None`` when none was)."""
        return "; ".join(self.problems)[:DEFAULT_MAX_DATE_ERROR_CHARS] or None


@dataclass(frozen=True)
class _Dated:
    value: datetime
    source: str


def date_page(
    meta: PageMetadata,
    tree: HtmlElement,
    *,
    url: str,
    now: datetime | None = None,
    guess: bool = True,
    around: Surroundings | None = None,
) -> PageDates:
    """The dates of the page ``tree`` fetched from ``url``: every candidate, the costlier
    ones only when nothing else dates the page.

    ``guess=False``: the caller has a date it trusts more than the page's guesses (its feed's,
    ``worker.pipeline.dates``), so a page without markup or URL date is not searched for a
    publication label nor scanned (``text``): the markup, the URL and the date beside the
    headline are read as always. ``around``: the headline's surroundings when the caller
    has read them already (:func:`worker.extract.headline.around_headline`)."""
    now = now or datetime.now(UTC)
    shown = shown_date(around if around is not None else around_headline(tree), now=now)
    scanned = None
    if guess and shown is None and needs_scan(meta, url=url, now=now):
        # Read only here: a "published" label far from the headline is the page's date
        # when nothing else is, not a reason to doubt its markup.
        shown = labelled_date(tree, now=now)
        if shown is None:
            scanned = scan_page(tree, url=url, now=now)
    return resolve_dates(meta, tree, url=url, scanned=scanned, shown=shown, now=now)


def resolve_dates(
    meta: PageMetadata,
    tree: HtmlElement,
    *,
    url: str,
    scanned: str | None,
    shown: ShownDate | None = None,
    now: datetime | None = None,
) -> PageDates:
    """Pick published/modified dates of the page ``tree`` fetched from ``url``.

    ``scanned`` is :func:`scan_page`'s result when :func:`needs_scan` asked for it, the
    ``text`` candidate; ``shown`` the date beside the headline
    (:func:`worker.extract.shown.shown_date`) or labelled as the publication. The tree is
    only read (copies are scanned).
    """
    now = now or datetime.now(UTC)
    problems: list[str] = []
    published = _first_readable(meta.published, now, problems)
    modified = _first_readable(meta.modified, now, problems)
    if published is None:
        published = _guessed(
            meta, url=url, shown=shown, scanned=scanned, now=now, problems=problems
        )
    else:
        spellings = _spellings(meta)
        published = _Dated(_with_publisher_offset(published.value, spellings), published.source)
        if (
            modified is not None
            and modified.value.date() != published.value.date()
            and modified.value > published.value
            and (shown.value.date() if shown else _shown_day(tree)) == modified.value.date()
        ):
            published = modified
        elif shown is not None and _far_apart(shown, published.value):
            published = _Dated(_moment_on(shown.value, spellings), DateSource.SHOWN)
        elif shown is not None:
            published = _Dated(_on_shown_day(published.value, shown), published.source)
    if modified is not None and published is not None and modified.value < published.value:
        modified = None  # an "update" before the publication is a template error
    return PageDates(
        published_at=published.value if published else None,
        published_source=published.source if published else None,
        modified_at=modified.value if modified else None,
        modified_source=modified.source if modified else None,
        problems=tuple(problems),
    )


def needs_scan(meta: PageMetadata, *, url: str, now: datetime | None = None) -> bool:
    """Whether only a scan of the page can date it (no readable markup date, no URL date):
    then htmldate's extensive scan is worth its cost."""
    now = now or datetime.now(UTC)
    if any(read_date(d.text, now=now).value is not None for d in meta.published):
        return False
    return all(url_date(candidate) is None for candidate in (url, meta.canonical_url))


def scan_page(tree: HtmlElement, *, url: str, now: datetime | None = None) -> str | None:
    """htmldate's scan of the page (on its own copy): the ``text`` candidate.

    Its fast mode first; the extensive one only when the fast one finds nothing. The extensive
    scan hands free text to dateparser, which tries every language it knows (~17 ms a call
    once loaded, and 2 s of language data on a process's first call); the fast one reads the
    numeric and common spellings, and dated 61 of the 100 pages of the htmldate set that only
    a scan dates, at the same accuracy (docs/extraction.md)."""
    today = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    for extensive in (False, True):
        found: str | None = find_date(
            tree, url=url, extensive_search=extensive, original_date=True, max_date=today
        )
        if found:
            return found
    return None


def load_date_languages() -> None:
    """Load what htmldate's free-text scan needs now, once, rather than on the first pages.

    That scan hands date-like text to dateparser, which loads and compiles each language's
    data the first time it tries it: 0.1-0.6 s per new language on the hot path, seconds in
    all (``worker.extract.warm_up`` calls it, at worker start-up).
    """
    # A date-like text no language knows: dateparser tries (and so loads) every one of them.
    page = lxml.html.fromstring("<html><body><p>zzqx 12 qqq 2019</p></body></html>")
    find_date(page, url=_NO_URL, extensive_search=True)


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
    return read_date(found).value


def _first_readable(
    candidates: Iterable[DateText], now: datetime, problems: list[str]
) -> _Dated | None:
    for candidate in candidates:
        reading = read_date(candidate.text, now=now)
        if reading.value is not None:
            return _Dated(reading.value, candidate.source)
        problems.append(f"{candidate.source} {candidate.field} {reading.problem}")
    return None


def _guessed(
    meta: PageMetadata,
    *,
    url: str,
    shown: ShownDate | None,
    scanned: str | None,
    now: datetime,
    problems: list[str],
) -> _Dated | None:
    for candidate in (url, meta.canonical_url):
        found = url_date(candidate)
        if found is not None and read_date(found.isoformat(), now=now).value is not None:
            return _Dated(found, DateSource.URL)
    if shown is not None:
        return _Dated(_moment_on(shown.value, _spellings(meta)), DateSource.SHOWN)
    reading = read_date(scanned, now=now)
    if reading.value is None:
        if reading.problem:
            problems.append(f"text {reading.problem}")
        return None
    if (reading.value.month, reading.value.day) == (1, 1):
        problems.append(f"text {scanned!r}: January 1st stands for a bare year")
        return None
    return _Dated(reading.value, DateSource.TEXT)


def _shown_day(tree: HtmlElement) -> date | None:
    """The day htmldate's fast scan finds in the page's body, markup left out."""
    body = tree.find("body")
    if body is None:
        return None
    copy = deepcopy(body)
    for hidden in copy.xpath(_HIDDEN):
        hidden.drop_tree()
    for element in copy.xpath(".//*[@itemprop]"):
        del element.attrib["itemprop"]
    page = lxml.html.Element("html")
    page.append(copy)
    found = read_date(find_date(page, url=_NO_URL, extensive_search=False, original_date=True))
    return found.value.date() if found.value else None


def _on_shown_day(value: datetime, shown: ShownDate) -> datetime:
    """A UTC ``value`` in the nearest offset that puts it on the shown day, the day before
    or after (within the widest offsets): the moment is the markup's, the day the one the
    publisher shows. The offset found is a bound, not necessarily the publisher's own."""
    if value.utcoffset() != timedelta(0):
        return value
    day = shown.value.date()
    since_midnight = value - value.replace(hour=0, minute=0, second=0, microsecond=0)
    if day == value.date() - timedelta(days=1):
        shift = -(since_midnight // _QUARTER_HOUR + 1) * _QUARTER_HOUR
    elif day == value.date() + timedelta(days=1):
        shift = timedelta(days=1) - since_midnight
        shift = -(-shift // _QUARTER_HOUR) * _QUARTER_HOUR
    else:
        return value
    if not _is_offset(shift):
        return value
    return value.astimezone(timezone(shift))


def _is_offset(shift: timedelta) -> bool:
    """Whether ``shift`` can be a UTC offset: whole quarter-hours, within the widest ones."""
    return DEFAULT_MIN_OFFSET <= shift <= DEFAULT_MAX_OFFSET and not shift % _QUARTER_HOUR


def _far_apart(shown: ShownDate, published: datetime) -> bool:
    """Whether the shown day (either reading of an all-numeric one) is more than
    :data:`DEFAULT_SHOWN_SLACK_DAYS` from the published day: another date, not another zone."""
    readings = [shown.value] + ([shown.swapped] if shown.swapped else [])
    return all(
        abs((reading.date() - published.date()).days) > DEFAULT_SHOWN_SLACK_DAYS
        for reading in readings
    )


def _moment_on(day: datetime, spellings: Iterable[str]) -> datetime:
    """The first moment the markup spells on ``day``, with its offset;
    else the day itself at midnight UTC."""
    for text in spellings:
        value = parse_date(text)
        if value is not None and value.date() == day.date():
            return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return day


def _spellings(meta: PageMetadata) -> list[str]:
    return [d.text for d in (*meta.published, *meta.modified)] + list(meta.other_dates)


def _with_publisher_offset(value: datetime, spellings: Iterable[str]) -> datetime:
    """``value`` (UTC) in the offset of another spelling of the same moment on the page.

    A spelling with an offset must be the same moment; one without (local time, as
    ``sailthru.date`` writes it) must be a whole quarter-hour away, within the widest offsets.
    A value on the hour is left alone: too many unrelated times are on the hour too.
    """
    if value.utcoffset() != timedelta(0) or (value.minute, value.second) == (0, 0):
        return value
    wall = value.replace(tzinfo=None)
    for text in spellings:
        other = parse_date(text)
        if other is None:
            continue
        if other.tzinfo is not None:
            offset = other.utcoffset()
            if offset and other == value:
                return value.astimezone(other.tzinfo)
            continue
        shift = other - wall
        if shift and _is_offset(shift):
            return value.astimezone(timezone(shift))
    return value
