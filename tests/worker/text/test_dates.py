"""Dates read strictly from untrusted text: nothing filled in, junk refused with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from worker.text.dates import (
    DateReading,
    check_date,
    describe_problems,
    read_date,
)

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)


def test_read_date_in_utc() -> None:
    def utc(text: str) -> datetime | None:
        return read_date(text, now=NOW).utc

    assert utc("2024-05-17T10:00:00+02:00") == datetime(2024, 5, 17, 8, tzinfo=UTC)
    assert utc("2024-05-17T10:00:00") == datetime(2024, 5, 17, 10, tzinfo=UTC)
    assert utc("2024-05-17") == datetime(2024, 5, 17, tzinfo=UTC)
    assert utc("20240517") == datetime(2024, 5, 17, tzinfo=UTC)
    assert utc("Fri, 17 May 2024 18:00:00 GMT") == datetime(2024, 5, 17, 18, tzinfo=UTC)
    assert utc("Fri, 17 May 24 18:00:00 GMT") == datetime(2024, 5, 17, 18, tzinfo=UTC)
    assert utc("17 May 2024 12:00 CET") == datetime(2024, 5, 17, 12, tzinfo=UTC)
    assert utc("1 January 2024") == datetime(2024, 1, 1, tzinfo=UTC)
    assert utc("May 17") is None  # no year: not silently "this year"
    assert utc("soon") is None
    assert utc("") is None
    assert utc("9999-99-99") is None


def test_read_date_keeps_the_offset_of_the_text() -> None:
    reading = read_date("2024-05-17T10:00:00+02:00", now=NOW)
    assert reading.value == datetime(2024, 5, 17, 10, tzinfo=timezone(timedelta(hours=2)))
    assert reading.value is not None and reading.value.utcoffset() == timedelta(hours=2)
    assert reading.utc == datetime(2024, 5, 17, 8, tzinfo=UTC)
    assert read_date("2024-05-17 10:00", now=NOW).value == datetime(2024, 5, 17, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # nothing is filled in from today or from a default
        ("-1", "no year"),
        ("1", "no year"),
        ("May 5", "no year"),
        ("12:30", "no year"),
        ("2024", "no day"),
        ("2024-05", "no day"),
        ("May 2024", "no day"),
        ("99", "no day"),
        # a four-digit year is that year, not a two-digit one
        ("Sat, 01 Jan 0000", "year 0000 is out of range"),
        ("Sat, 01 Jan 0000 00:00:00 GMT", "year 0000 is out of range"),
        ("0000-00-00 00:00:00", "not a date"),
        ("garbage", "not a date"),
        ("Mon, 32 Jan 2024 10:00:00 GMT", "not a date"),
        ("2024-05-17" + " " * 10 + "x" * 100, "too long to be a date"),
        # out of range
        ("1970-01-01T00:00:00Z", "not after 1970 (a zero timestamp or a placeholder)"),
        ("0001-01-01T00:00:00Z", "not after 1970 (a zero timestamp or a placeholder)"),
        ("1969-12-31", "not after 1970 (a zero timestamp or a placeholder)"),
        ("2024-06-04T00:00:00Z", "in the future"),
        ("Fri, 01 Jan 2100 00:00:00 GMT", "in the future"),
    ],
)
def test_junk_is_refused_with_its_reason(text: str, problem: str) -> None:
    reading = read_date(text, now=NOW)
    assert reading.value is None
    assert reading.problem is not None
    assert reading.problem.endswith(": " + problem), reading.problem
    assert reading.problem.startswith("'"), "the refused text is quoted"


def test_no_text_is_no_problem() -> None:
    for text in (None, "", "   ", 42):
        assert read_date(text, now=NOW) == DateReading()


def test_fallback_only_for_formats_unknown_here() -> None:
    other = datetime(2024, 5, 17, tzinfo=UTC)
    # a format dateutil cannot read: the other parser's value is taken (and checked)
    assert read_date("unknown-format", now=NOW, fallback=other).value == other
    future = datetime(2099, 1, 1, tzinfo=UTC)
    assert read_date("unknown-format", now=NOW, fallback=future).problem is not None
    # a text without a day is refused whatever the other parser filled in
    assert read_date("2024", now=NOW, fallback=datetime(2024, 1, 1, tzinfo=UTC)).value is None


def test_describe_problems() -> None:
    bad, good = read_date("-1", now=NOW), read_date("2024-05-17", now=NOW)
    assert describe_problems(("published", bad), ("updated", good)) == "published '-1': no year"
    assert describe_problems(("published", good)) is None


def test_check_date_bounds() -> None:
    assert check_date(datetime(2099, 1, 1, tzinfo=UTC), now=NOW) == "in the future"
    assert check_date(datetime(1969, 12, 31, tzinfo=UTC), now=NOW) is not None
    assert check_date(NOW + timedelta(days=1), now=NOW) is None
    assert check_date(datetime(2024, 1, 1), now=NOW) is None  # naive means UTC
