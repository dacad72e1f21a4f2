"""Page dates: order of trust, refusals with reasons, the publisher's offset and day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import lxml.html
import pytest

from worker.extract import extract_page
from worker.extract.dates import PageDates, resolve_dates, url_date
from worker.extract.metadata import DateText, PageMetadata

NOW = datetime(2024, 6, 1, tzinfo=UTC)
ARTICLE = "".join(
    f"<p>Paragraph {i} of a test article about the harbour ferry, which resumes its evening "
    "crossings next month after the quay works are finished, the operator said.</p>"
    for i in range(5)
)
PLAIN_URL = "https://n.example.com/story"


def _tree(body: str = "<p>No dates here.</p>") -> lxml.html.HtmlElement:
    return lxml.html.fromstring(f"<html><head></head><body>{body}</body></html>")


def _resolve(meta: PageMetadata, body: str = "<p>x</p>", **kwargs: object) -> PageDates:
    options: dict[str, object] = {"url": PLAIN_URL, "scanned": None, "now": NOW, **kwargs}
    return resolve_dates(meta, _tree(body), **options)  # type: ignore[arg-type]


def _jsonld(text: str, field: str = "datePublished") -> DateText:
    return DateText("jsonld", field, text)


def _meta(text: str, field: str = "article:published_time") -> DateText:
    return DateText("meta", field, text)


def test_order_of_trust() -> None:
    both = PageMetadata(published=(_jsonld("2024-05-01T10:00:00Z"), _meta("2024-05-02")))
    dated_url = "https://n.example.com/2024/05/03/story"
    assert _resolve(both, url=dated_url, scanned="2024-05-04").published_source == "jsonld"
    only_meta = PageMetadata(published=(_meta("2024-05-02"),))
    assert _resolve(only_meta, url=dated_url).published_source == "meta"
    by_url = _resolve(PageMetadata(), url=dated_url, scanned="2024-05-04")
    assert (by_url.published_at, by_url.published_source) == (
        datetime(2024, 5, 3, tzinfo=UTC),
        "url",
    )
    by_text = _resolve(PageMetadata(), scanned="2024-05-04")
    assert (by_text.published_at, by_text.published_source) == (
        datetime(2024, 5, 4, tzinfo=UTC),
        "text",
    )


def test_junk_markup_dates_are_refused_with_their_reason_and_the_next_one_used() -> None:
    meta = PageMetadata(
        published=(
            _jsonld("2999-01-01T00:00:00Z"),
            _meta("0000-00-00", "date"),
            _meta("2024", "dc.date"),
            _meta("2024-05-02T08:00:00Z"),
        ),
        modified=(_meta("-1", "article:modified_time"),),
    )
    dates = _resolve(meta)
    assert (dates.published_at, dates.published_source) == (
        datetime(2024, 5, 2, 8, tzinfo=UTC),
        "meta",
    )
    assert dates.modified_at is None
    assert dates.date_error == (
        "jsonld datePublished '2999-01-01T00:00:00Z': in the future; "
        "meta date '0000-00-00': not a date; meta dc.date '2024': no day; "
        "meta article:modified_time '-1': no year"
    )


def test_only_junk_gives_no_date_never_a_plausible_one() -> None:
    meta = PageMetadata(
        published=(_jsonld("Sat, 01 Jan 0000"), _meta("1970-01-01T00:00:00Z")),
    )
    dates = _resolve(meta, scanned="2999-05-04")
    assert (dates.published_at, dates.published_source) == (None, None)
    assert dates.date_error is not None
    assert "year 0000 is out of range" in dates.date_error
    assert "not after 1970" in dates.date_error
    assert "text '2999-05-04': in the future" in dates.date_error


def test_a_scanned_january_first_stands_for_a_bare_year() -> None:
    dates = _resolve(PageMetadata(), scanned="2019-01-01")
    assert dates.published_at is None
    assert dates.date_error == "text '2019-01-01': January 1st stands for a bare year"


def test_the_page_offset_is_kept_and_the_moment_is_the_same() -> None:
    dates = _resolve(PageMetadata(published=(_jsonld("2020-02-15T07:00:00+09:00"),)))
    assert dates.published_at is not None
    assert dates.published_at.date() == date(2020, 2, 15)  # the publisher's day
    assert dates.published_at == datetime(2020, 2, 14, 22, tzinfo=UTC)  # the same moment


@pytest.mark.parametrize(
    "twin",
    [
        _meta("2023-11-08 22:28:35", "sailthru.date"),  # local time, no offset
        _meta("2023-11-08T22:28:35-05:00", "datepublished"),  # the same moment, with offset
    ],
)
def test_a_utc_value_takes_the_offset_of_its_local_twin(twin: DateText) -> None:
    meta = PageMetadata(published=(_jsonld("2023-11-09T03:28:35Z"), twin))
    dates = _resolve(meta)
    assert dates.published_at == datetime(2023, 11, 9, 3, 28, 35, tzinfo=UTC)
    assert dates.published_at is not None
    assert dates.published_at.utcoffset() == timedelta(hours=-5)
    assert dates.published_at.date() == date(2023, 11, 8)


def test_no_offset_is_guessed_from_unrelated_times() -> None:
    # on the hour: too many unrelated times are on the hour too
    on_hour = PageMetadata(published=(_jsonld("2023-11-09T03:00:00Z"), _meta("2023-11-08 22:00")))
    assert _resolve(on_hour).published_at == datetime(2023, 11, 9, 3, tzinfo=UTC)
    assert _resolve(on_hour).published_at.utcoffset() == timedelta(0)  # type: ignore[union-attr]
    # not a whole quarter-hour away: another moment, not another zone
    other = PageMetadata(published=(_jsonld("2023-11-09T03:28:35Z"), _meta("2023-11-08 22:28:36")))
    assert _resolve(other).published_at.utcoffset() == timedelta(0)  # type: ignore[union-attr]
    # a value with its own offset keeps it
    local = PageMetadata(
        published=(_jsonld("2023-11-09T03:28:35+01:00"),),
        other_dates=("2023-11-09T08:28:35+06:00",),
    )
    assert _resolve(local).published_at.utcoffset() == timedelta(hours=1)  # type: ignore[union-attr]


def test_a_page_showing_its_update_as_its_date_was_republished_then() -> None:
    meta = PageMetadata(
        published=(_jsonld("2019-06-17T00:00:00+00:00"),),
        modified=(_jsonld("2020-06-04T16:41:46+00:00", "dateModified"),),
    )
    shows_update = '<div class="date">Updated June 4, 2020</div>' + ARTICLE
    republished = _resolve(meta, shows_update)
    assert republished.published_at == datetime(2020, 6, 4, 16, 41, 46, tzinfo=UTC)
    assert republished.published_source == "jsonld"
    shows_publication = '<div class="date">June 17, 2019</div>' + ARTICLE
    assert _resolve(meta, shows_publication).published_at == datetime(2019, 6, 17, tzinfo=UTC)
    assert _resolve(meta, ARTICLE).published_at == datetime(2019, 6, 17, tzinfo=UTC)


def test_a_modification_before_the_publication_is_dropped() -> None:
    meta = PageMetadata(
        published=(_jsonld("2024-05-01T10:00:00Z"),),
        modified=(_jsonld("2020-01-01T10:00:00Z", "dateModified"),),
    )
    assert _resolve(meta).modified_at is None


def test_url_date() -> None:
    assert url_date("https://n.example.com/2023/11/05/x/") == datetime(2023, 11, 5, tzinfo=UTC)
    assert url_date("https://n.example.com/about") is None
    assert url_date(None) is None


def test_extract_page_reports_refused_dates() -> None:
    head = (
        '<meta property="article:published_time" content="2999-01-01T00:00:00Z">'
        '<meta property="article:modified_time" content="0000-00-00T00:00:00Z">'
    )
    html = f"<html lang='en'><head>{head}</head><body><article>{ARTICLE}</article></body></html>"
    page = extract_page(html.encode(), url="https://x.example.com/harbour-ferry")
    assert page.published_source != "meta"
    assert page.published_at is None or page.published_at.year < 2999
    assert page.date_error is not None
    assert "meta article:published_time '2999-01-01T00:00:00Z': in the future" in page.date_error
    assert "meta article:modified_time '0000-00-00T00:00:00Z'" in page.date_error


def test_extract_page_keeps_the_publisher_offset() -> None:
    head = '<meta property="article:published_time" content="2024-05-17T23:30:00-04:00">'
    html = f"<html><head>{head}</head><body><article>{ARTICLE}</article></body></html>"
    page = extract_page(html.encode(), url="https://x.example.com/harbour-ferry")
    assert page.published_at == datetime(2024, 5, 18, 3, 30, tzinfo=UTC)
    assert page.published_at is not None
    assert page.published_at.utcoffset() == timedelta(hours=-4)
    assert page.published_at.date() == date(2024, 5, 17)
