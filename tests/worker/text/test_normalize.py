from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.text.normalize import (
    clean_authors,
    html_to_text,
    parse_datetime,
    plain_text,
    sane_datetime,
    strip_control_chars,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("By Jane Doe and John Roe", ["Jane Doe", "John Roe"]),
        (["Jane Doe; John Roe", "jane doe"], ["Jane Doe", "John Roe"]),
        ("Jane Doe, Staff Writer", ["Jane Doe"]),
        ("Staff", []),
        ("desk@example.com", []),
        ("editor@example.com (Maria Lopez)", ["Maria Lopez"]),
        ("Von Hans Müller und Eva Schmidt", ["Hans Müller", "Eva Schmidt"]),
        ("https://example.com/authors/jane", []),
        ("BY: Ana Lima | Rui Costa", ["Ana Lima", "Rui Costa"]),
        (None, []),
        ("x" * 300, []),
    ],
)
def test_clean_authors(raw: object, expected: list[str]) -> None:
    assert clean_authors(raw) == expected  # type: ignore[arg-type]


def test_html_to_text_blocks_entities_and_scripts() -> None:
    assert html_to_text("<p>Fish &amp; <b>chips</b></p><p>Second<script>x()</script></p>") == (
        "Fish & chips\n\nSecond"
    )
    assert html_to_text("<h1>Big</h1>\n  <i>title</i>", single_line=True) == "Big title"
    assert html_to_text("  ") is None
    assert html_to_text("<script>only()</script>") is None
    assert html_to_text("bad\x00 control\x07") == "bad control"


def test_plain_text_keeps_angle_brackets() -> None:
    assert (
        plain_text("<script> tags &amp;amp; more", single_line=True) == "<script> tags &amp; more"
    )
    assert plain_text("a\n\n\n b  c") == "a\n\nb c"


def test_strip_control_chars_keeps_whitespace() -> None:
    assert strip_control_chars("a\tb\nc\rd\x00e\x1ff\ud800") == "a\tb\nc\rdef"


def test_parse_datetime() -> None:
    assert parse_datetime("2024-05-17T10:00:00+02:00") == datetime(2024, 5, 17, 8, tzinfo=UTC)
    assert parse_datetime("2024-05-17T10:00:00") == datetime(2024, 5, 17, 10, tzinfo=UTC)
    assert parse_datetime("2024-05-17") == datetime(2024, 5, 17, tzinfo=UTC)
    assert parse_datetime("Fri, 17 May 2024 18:00:00 GMT") == datetime(2024, 5, 17, 18, tzinfo=UTC)
    assert parse_datetime("17 May 2024 12:00 CET") == datetime(2024, 5, 17, 12, tzinfo=UTC)
    assert parse_datetime("May 17") is None  # no year: not silently "this year"
    assert parse_datetime("soon") is None
    assert parse_datetime("") is None
    assert parse_datetime("9999-99-99") is None


def test_sane_datetime_bounds() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    assert sane_datetime(datetime(2099, 1, 1, tzinfo=UTC), now=now) is None
    assert sane_datetime(datetime(1969, 12, 31, tzinfo=UTC), now=now) is None
    assert sane_datetime(now + timedelta(days=1), now=now) == now + timedelta(days=1)
    assert sane_datetime(datetime(2024, 1, 1), now=now) == datetime(2024, 1, 1, tzinfo=UTC)
    assert sane_datetime(None) is None
