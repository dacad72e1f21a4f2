"""Page dates: order of trust, refusals with reasons, the publisher's offset and day."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import lxml.html
import pytest

import worker.extract.dates as dates_module
from worker.extract import ExtractionError, extract_page
from worker.extract.dates import PageDates, resolve_dates, scan_page, url_date
from worker.extract.metadata import DateText, PageMetadata
from worker.extract.shown import ShownDate

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


def _shown(day: str, text: str | None = None, *, swappable: bool = False) -> ShownDate:
    value = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return ShownDate(value, text or day, swappable)


def test_a_date_shown_beside_the_headline_beats_the_scan_not_the_url() -> None:
    shown = _shown("2024-05-02")
    by_shown = _resolve(PageMetadata(), shown=shown, scanned="2024-05-04")
    assert (by_shown.published_at, by_shown.published_source) == (shown.value, "shown")
    dated_url = "https://n.example.com/2024/05/03/story"
    assert _resolve(PageMetadata(), url=dated_url, shown=shown).published_source == "url"


def test_a_shown_date_far_from_the_markup_is_the_publication() -> None:
    meta = PageMetadata(published=(_meta("2021-12-20T11:02:44+01:00"),))
    far = _resolve(meta, shown=_shown("2022-01-27"))
    assert (far.published_at, far.published_source) == (datetime(2022, 1, 27, tzinfo=UTC), "shown")
    # a day apart: the same publication seen from another zone; the markup has the time
    near = _resolve(meta, shown=_shown("2021-12-21"))
    assert near.published_source == "meta"


def test_an_all_numeric_shown_date_read_the_other_way_can_be_the_markups() -> None:
    meta = PageMetadata(published=(_meta("2021-02-12T11:02:44-05:00"),))
    # htmldate reads "02/12/2021" day first: December 2nd; month first it is the markup's day
    swapped = _resolve(meta, shown=_shown("2021-12-02", "02/12/2021", swappable=True))
    assert swapped.published_source == "meta"
    spelled = _resolve(meta, shown=_shown("2021-12-02", "2 December 2021"))
    assert spelled.published_source == "shown"


def test_a_shown_day_takes_the_moment_the_markup_spells_on_it() -> None:
    meta = PageMetadata(
        published=(_meta("2021-12-20T11:02:44+01:00"),),
        other_dates=("2022-01-27T09:15:00+01:00",),
    )
    dates = _resolve(meta, shown=_shown("2022-01-27"))
    assert dates.published_at == datetime(2022, 1, 27, 9, 15, tzinfo=timezone(timedelta(hours=1)))


def test_a_page_showing_its_modification_day_was_republished_then() -> None:
    meta = PageMetadata(
        published=(_jsonld("2017-08-21T13:09:00Z"),),
        modified=(_jsonld("2019-04-03T08:04:01Z", "dateModified"),),
    )
    dates = _resolve(meta, shown=_shown("2019-04-03"))
    assert (dates.published_at, dates.published_source) == (
        datetime(2019, 4, 3, 8, 4, 1, tzinfo=UTC),
        "jsonld",
    )


@pytest.mark.parametrize(
    ("published", "shown", "day", "offset"),
    [
        # the nearest offset that puts the moment on the shown day
        ("2020-08-25T00:23:33Z", "2020-08-24", "2020-08-24", timedelta(minutes=-30)),
        ("2020-04-28T22:10:00Z", "2020-04-29", "2020-04-29", timedelta(hours=2)),
        # no zone is more than 12 hours west of UTC, nor more than 14 hours east
        ("2020-08-25T12:05:00Z", "2020-08-24", "2020-08-25", timedelta(0)),
        ("2020-08-25T09:45:00Z", "2020-08-26", "2020-08-25", timedelta(0)),
        # a value with its own offset keeps it
        ("2020-08-25T00:23:33+02:00", "2020-08-24", "2020-08-25", timedelta(hours=2)),
    ],
)
def test_a_utc_value_falls_on_the_day_the_page_shows(
    published: str, shown: str, day: str, offset: timedelta
) -> None:
    dates = _resolve(PageMetadata(published=(_jsonld(published),)), shown=_shown(shown))
    assert dates.published_at == datetime.fromisoformat(published.replace("Z", "+00:00"))
    assert dates.published_at is not None
    assert dates.published_at.utcoffset() == offset
    assert dates.published_at.date().isoformat() == day


def test_a_page_without_main_text_is_still_dated() -> None:
    head = (
        '<script type="application/ld+json">{"@type": "NewsArticle",'
        ' "datePublished": "2020-01-20T08:00:00+08:00"}</script>'
    )
    html = f"<html><head>{head}</head><body><div></div></body></html>"
    with pytest.raises(ExtractionError) as caught:
        extract_page(html.encode(), url="https://x.example.com/video/1")
    assert caught.value.error_class == "no_text"
    assert caught.value.dates is not None
    assert caught.value.dates.published_at == datetime(2020, 1, 20, tzinfo=UTC)
    assert caught.value.dates.published_source == "jsonld"
    # it crosses process boundaries (Celery, multiprocessing) with its dates
    again = pickle.loads(pickle.dumps(caught.value))
    assert (again.error_class, str(again), again.dates) == (
        "no_text",
        str(caught.value),
        caught.value.dates,
    )


def _scan_modes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The ``extensive_search`` of each htmldate scan ``scan_page`` runs (the real ones)."""
    modes: list[bool] = []
    real = dates_module.find_date

    def spy(tree: Any, **kwargs: Any) -> Any:
        modes.append(kwargs["extensive_search"])
        return real(tree, **kwargs)

    monkeypatch.setattr(dates_module, "find_date", spy)
    return modes


def test_scan_reads_plain_dates_without_the_extensive_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    modes = _scan_modes(monkeypatch)
    tree = lxml.html.fromstring(
        "<html><body><h1>Harbour works</h1><p>Posted 2021-03-04 by staff</p>"
        "<p>The breakwater is rebuilt.</p></body></html>"
    )
    assert scan_page(tree, url="https://x.example.com/harbour", now=NOW) == "2021-03-04"
    assert modes == [False]


def test_scan_falls_back_to_the_extensive_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    # A date in words only dateparser reads: the fast scan finds nothing.
    modes = _scan_modes(monkeypatch)
    tree = lxml.html.fromstring(
        "<html><body><h1>Порт</h1><span>4 марта 2021 года</span><p>Текст.</p></body></html>"
    )
    assert scan_page(tree, url="https://x.example.com/port", now=NOW) == "2021-03-04"
    assert modes == [False, True]


def test_a_caller_with_a_better_date_skips_the_guesses(scanned: list[str]) -> None:
    # Dated only by its text: scanned by default, left undated (no scan at all) when the
    # caller says it has a date that outranks a guess (a feed's).
    html = (
        f"<html><body><article><h1>Harbour works</h1>{ARTICLE}</article>"
        "<footer>Archived 2021-03-04</footer></body></html>"
    ).encode()
    guessed = extract_page(html, url=PLAIN_URL)
    assert (guessed.published_source, str(guessed.published_at)[:10]) == ("text", "2021-03-04")
    unguessed = extract_page(html, url=PLAIN_URL, guess_dates=False)
    assert (unguessed.published_at, unguessed.published_source) == (None, None)
    assert scanned == [PLAIN_URL]
