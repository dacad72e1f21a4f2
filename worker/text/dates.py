"""Dates from untrusted text: read strictly, checked for plausibility, refused with a reason.

Usage::

    from worker.text.dates import read_date

    reading = read_date("2024-05-17T10:00:00+02:00")
    reading.value        # datetime(2024, 5, 17, 10, 0, tzinfo=+02:00): the offset is kept
    read_date("-1").problem                  # "'-1': no year"
    read_date("Sat, 01 Jan 0000").problem    # "'Sat, 01 Jan 0000': year 0000 is out of range"
    read_date("2999-01-01").problem          # "'2999-01-01': in the future"

A date is only accepted when the text spells a year, a month and a day: nothing is filled in
from today (dateutil's habit, which turned ``<pubDate>-1</pubDate>`` into the current month)
and a bare year is not the first of January. Values keep the offset the text gave (the
publisher's local day is then known); a value without one is taken as UTC. Plausible means
after the Unix epoch and at most :data:`DEFAULT_MAX_FUTURE` ahead of now.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dateutil import parser as dateutil_parser

DEFAULT_MAX_FUTURE = timedelta(days=2)
"""Dates further in the future than this (from now) are treated as wrong, not as news."""
DEFAULT_MIN_DATE = datetime(1970, 1, 1, tzinfo=UTC)
"""Dates up to this one are treated as wrong (zero timestamps, ``0001-01-01`` placeholders)."""
DEFAULT_MAX_DATE_CHARS = 100
"""Longer text is not a date (a date with a weekday, time and zone name is about 40)."""

# The date part of an ISO 8601 value: its digits say whether a day is there (8 for
# 2024-05-17, 7 for week dates 2024-W20-5 and ordinal dates 2024-138, fewer for 2024-05).
_ISO_DATE_PART_RE = re.compile(r"^[+-]?[0-9W-]+")
_FOUR_DIGITS_RE = re.compile(r"(?<!\d)\d{4}(?!\d)")
_MIN_ISO_DAY_DIGITS = 7
_NOT_A_DATE = "not a date"
# Two defaults that differ in every field: a field the text did not spell differs between
# the two parses.
_DEFAULTS = (datetime(1, 1, 1), datetime(2, 2, 2))


@dataclass(frozen=True)
class DateReading:
    """A date read from text: ``value`` (aware) or, when text was refused, the ``problem``."""

    value: datetime | None = None
    problem: str | None = None

    @property
    def utc(self) -> datetime | None:
        """``value`` in UTC (what the database stores)."""
        return to_utc(self.value) if self.value is not None else None


def describe_problems(*labelled: tuple[str, DateReading]) -> str | None:
    """One line naming each refused date, e.g. ``"published '-1': no year"``; ``None`` if none."""
    parts = [f"{label} {reading.problem}" for label, reading in labelled if reading.problem]
    return "; ".join(parts) or None


def read_date(
    text: object,
    *,
    now: datetime | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
    fallback: datetime | None = None,
) -> DateReading:
    """Parse ``text`` strictly and check it is plausible.

    No text (``None``, empty, not a string) is no date and no problem; anything else is either
    a value or a problem naming the text and what is wrong with it. ``fallback`` is what
    another parser read from the same text (feedparser knows formats dateutil does not): it
    is used, checked like any value, only when the text is in no format known here, never to
    fill in a year or a day the text left out.
    """
    if not isinstance(text, str) or not text.strip():
        text = ""
        value, problem = fallback, None
    else:
        value, problem = _parse(text.strip())
        if value is None and problem == _NOT_A_DATE and fallback is not None:
            value, problem = fallback, None
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value is not None:
        problem = check_date(value, now=now, max_future=max_future)
    if problem is not None:
        return DateReading(problem=f"{_quote(text)}: {problem}")
    return DateReading(value=value)


def check_date(
    value: datetime,
    *,
    now: datetime | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
    min_date: datetime = DEFAULT_MIN_DATE,
) -> str | None:
    """Why ``value`` cannot be a publication date (``None`` when it can)."""
    utc = to_utc(value)
    if utc is None:
        return "offset out of range"
    if utc <= min_date:
        return "not after 1970 (a zero timestamp or a placeholder)"
    if utc > (now or datetime.now(UTC)) + max_future:
        return "in the future"
    return None


def parse_date(text: object) -> datetime | None:
    """The date ``text`` spells, as written: aware when it has an offset, naive when not.

    As strict as :func:`read_date` (``None`` for anything it would refuse as unreadable) but
    without the plausibility check; for comparing two spellings of one moment.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    return _parse(text.strip())[0]


def to_utc(value: datetime) -> datetime | None:
    """``value`` as aware UTC (naive means UTC); ``None`` when the offset is unusable."""
    try:
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _parse(text: str) -> tuple[datetime | None, str | None]:
    """``(value, None)`` as written (naive when the text has no offset), or ``(None, why)``."""
    if len(text) > DEFAULT_MAX_DATE_CHARS:
        return None, "too long to be a date"
    try:
        value = dateutil_parser.isoparse(text)
    except (ValueError, OverflowError):
        pass
    else:
        match = _ISO_DATE_PART_RE.match(text)
        digits = sum(ch.isdigit() for ch in match.group()) if match else 0
        if digits < _MIN_ISO_DAY_DIGITS:
            return None, "no day"
        return _offset_checked(value)
    try:
        first = _dateutil(text, _DEFAULTS[0])
        if first.year == _DEFAULTS[0].year:
            return None, "no year"
        # Only a 1 may have come from the default: parse again to know (rarely needed).
        if 1 in (first.month, first.day):
            second = _dateutil(text, _DEFAULTS[1])
            if first.month != second.month or first.day != second.day:
                return None, "no day"
    except (ValueError, OverflowError, TypeError, LookupError):
        return None, _NOT_A_DATE
    years = _FOUR_DIGITS_RE.findall(text)
    if years and str(first.year) not in years:
        # dateutil reads "0000" as 2000 (a two-digit year): a year written with four digits
        # must be that year.
        return None, f"year {years[0]} is out of range"
    return _offset_checked(first)


def _dateutil(text: str, default: datetime) -> datetime:
    with warnings.catch_warnings():
        # "CET"-style names: dateutil warns (and may raise one day); they are read as UTC.
        warnings.simplefilter("ignore", dateutil_parser.UnknownTimezoneWarning)
        return dateutil_parser.parse(text, default=default)


def _offset_checked(value: datetime) -> tuple[datetime | None, str | None]:
    try:
        value.utcoffset()
    except ValueError:
        return None, "offset out of range"
    return value, None


def _quote(text: str) -> str:
    shown = "".join(ch if ch.isprintable() else " " for ch in text.strip())
    return repr(shown if len(shown) <= 60 else shown[:57] + "...")
