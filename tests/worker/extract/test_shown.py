"""The date a page shows beside its headline, and the date it labels as its publication."""

from __future__ import annotations

from datetime import UTC, datetime

import lxml.html
import pytest

from worker.extract.headline import around_headline
from worker.extract.shown import ShownDate, labelled_date, shown_date

NOW = datetime(2024, 6, 1, tzinfo=UTC)
TITLE = "Harbour ferry resumes evening crossings"
BODY = "".join(
    f"<p>Paragraph {i} about the harbour ferry, which resumes its evening crossings next "
    "month after the quay works are finished, the operator said on Tuesday.</p>"
    for i in range(6)
)


def _page(body: str, title: str = TITLE, head: str = "") -> lxml.html.HtmlElement:
    return lxml.html.fromstring(
        f"<html><head><title>{title} | The Daily Example</title>{head}</head>"
        f"<body>{body}</body></html>"
    )


def _shown(body: str, **kwargs: str) -> ShownDate | None:
    return shown_date(around_headline(_page(body, **kwargs)), now=NOW)


def _day(found: ShownDate | None) -> str | None:
    return found.value.date().isoformat() if found is not None else None


def test_the_byline_date_below_the_headline() -> None:
    found = _shown(f"<h1>{TITLE}</h1><p class='byline'>By Ann Writer, 3 June 2020</p>{BODY}")
    assert found is not None
    assert found.value == datetime(2020, 6, 3, tzinfo=UTC)
    assert found.text == "By Ann Writer, 3 June 2020"


def test_a_dateline_above_the_headline() -> None:
    body = f"<div class='kicker'>Harbour · 12.03.2021</div><h1>{TITLE}</h1>{BODY}"
    assert _day(_shown(body)) == "2021-03-12"


def test_the_nearest_date_wins() -> None:
    body = (
        f"<p>Updated 14.03.2021</p><p>News</p><h1>{TITLE}</h1><span>13.03.2021</span>{BODY}"
        "<p>Comments closed on 20.03.2021</p>"
    )
    assert _day(_shown(body)) == "2021-03-13"


def test_the_headline_is_the_heading_that_repeats_the_title() -> None:
    # The site's logo is the first <h1>, with the date of the day beside it; the article's
    # heading (an <h2> here, most of its words in the title) has its own date.
    body = (
        "<h1>The Daily Example</h1><p>Saturday 1 June 2024</p>"
        + "<p>Menu</p>" * 40
        + f"<h2>{TITLE} again</h2><p>2 May 2024</p>{BODY}"
    )
    assert _day(_shown(body)) == "2024-05-02"


def test_without_a_heading_like_the_title_the_first_h1() -> None:
    body = f"<h1>Harbour news today</h1><p>2 May 2024</p>{BODY}"
    assert _day(_shown(body, title="Something else entirely")) == "2024-05-02"
    assert _shown(f"<h3>{TITLE}</h3><p>2 May 2024</p>{BODY}") is None  # no headline at all


def test_a_date_far_from_the_headline_is_not_shown_beside_it() -> None:
    body = f"<h1>{TITLE}</h1>{BODY}<p>Filed 2 May 2024</p>"
    assert _shown(body) is None


def test_text_no_reader_sees_is_not_read() -> None:
    body = (
        f"<h1>{TITLE}</h1><script>var d = '2 May 2024';</script>"
        "<select><option>3 May 2024</option></select><style>/* 4 May 2024 */</style>"
        f"<noscript>5 May 2024</noscript>{BODY}"
    )
    assert _shown(body) is None


def test_a_day_must_be_written() -> None:
    # htmldate reads "02/2022" as February 1st
    assert _shown(f"<h1>{TITLE}</h1><p>Issue 02/2022</p>{BODY}") is None
    assert _day(_shown(f"<h1>{TITLE}</h1><p>01/02/2022</p>{BODY}")) == "2022-02-01"


def test_a_future_day_is_not_shown() -> None:
    assert _shown(f"<h1>{TITLE}</h1><p>12 March 2031</p>{BODY}") is None


@pytest.mark.parametrize(
    ("text", "swapped"),
    [("06/01/2020", datetime(2020, 6, 1, tzinfo=UTC)), ("13/01/2020", None),
     ("6 January 2020", None), ("01/01/2020", None)],
)  # fmt: skip
def test_an_all_numeric_day_and_month_can_be_read_both_ways(
    text: str, swapped: datetime | None
) -> None:
    found = _shown(f"<h1>{TITLE}</h1><p>{text}</p>{BODY}")
    assert found is not None
    assert found.swapped == swapped


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("<p>Published on <time>3 June 2020</time> by the desk</p>", "2020-06-03"),
        ("<p>Veröffentlicht am 16.08.2019</p>", "2019-08-16"),
        ("<p>Dieser Beitrag wurde am 3. Dezember 2011 veröffentlicht.</p>", "2011-12-03"),
        ("<p>Publié le 4 mai 2020</p>", "2020-05-04"),
    ],
)
def test_a_date_labelled_as_the_publication_anywhere_on_the_page(text: str, day: str) -> None:
    page = _page(f"<h1>{TITLE}</h1>{BODY}<p>Comments: 7 June 2020</p>{text}")
    assert _day(labelled_date(page, now=NOW)) == day


def test_an_update_or_an_unlabelled_date_is_not_a_labelled_publication() -> None:
    page = _page(f"<h1>{TITLE}</h1>{BODY}<p>Updated 3 June 2020</p><p>5 June 2020</p>")
    assert labelled_date(page, now=NOW) is None
    hidden = _page(f"{BODY}<script>published = '3 June 2020'</script>")
    assert labelled_date(hidden, now=NOW) is None


def test_a_labelled_date_on_a_page_without_body() -> None:
    # lxml makes the first tag the root of a page without <html>/<body>: still read.
    page = lxml.html.fromstring("<div><p>Text.</p><p>Published 3 June 2020</p></div>")
    assert _day(labelled_date(page, now=NOW)) == "2020-06-03"
