"""Merging the feed's and the page's dates: order of trust and what a feed entry proves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from worker.extract import ExtractedPage
from worker.extract.dates import PageDates
from worker.pipeline.dates import FeedDates, merge_dates

FEED = datetime(2024, 5, 17, 12, tzinfo=UTC)


def _page(published: datetime | None, source: str | None = "jsonld", **kw: object) -> ExtractedPage:
    return ExtractedPage(
        title="t",
        text="x",
        published_at=published,
        published_source=source,
        **kw,  # type: ignore[arg-type]
    )


def test_markup_beats_the_feed_and_the_feed_beats_guesses() -> None:
    page_date = FEED - timedelta(hours=5)
    merged = merge_dates(FeedDates(FEED), _page(page_date, "meta"))
    assert (merged.published_at, merged.published_source) == (page_date, "meta")
    guessed = merge_dates(FeedDates(FEED), _page(FEED - timedelta(days=3), "url"))
    assert (guessed.published_at, guessed.published_source) == (FEED, "feed")
    no_feed = merge_dates(FeedDates(), _page(FEED, "text"))
    assert (no_feed.published_at, no_feed.published_source) == (FEED, "text")


def test_results_are_utc() -> None:
    local = datetime(2024, 5, 17, 9, tzinfo=timezone(timedelta(hours=-4)))
    merged = merge_dates(FeedDates(), _page(local))
    assert merged.published_at == local
    assert merged.published_at is not None and merged.published_at.utcoffset() == timedelta(0)


def test_a_page_date_after_the_feed_listed_the_article_is_an_update() -> None:
    later = FEED + timedelta(days=3)
    merged = merge_dates(FeedDates(FEED), _page(later))
    assert (merged.published_at, merged.published_source) == (FEED, "feed")
    assert (merged.modified_at, merged.modified_source) == (later, "jsonld")
    # within the slack (time zones, clocks): the page's own statement stands
    close = FEED + timedelta(hours=20)
    assert merge_dates(FeedDates(FEED), _page(close)).published_at == close


def test_a_page_date_before_the_feeds_first_entry_is_not_believed() -> None:
    first = datetime(2024, 5, 1, tzinfo=UTC)
    old = datetime(2015, 3, 2, 10, tzinfo=UTC)
    merged = merge_dates(FeedDates(FEED, first_entry_at=first), _page(old))
    assert (merged.published_at, merged.published_source) == (FEED, "feed")
    assert merged.problems == (
        "jsonld 2015-03-02T10:00:00+00:00: before the feed's first entry (2024-05-01)",
    )
    undated_entry = merge_dates(FeedDates(None, first_entry_at=first), _page(old))
    assert (undated_entry.published_at, undated_entry.published_source) == (None, None)
    # an old article in an old feed is fine
    assert merge_dates(FeedDates(FEED, first_entry_at=old), _page(old)).published_at == old


def test_a_modification_before_the_publication_is_dropped() -> None:
    page = _page(FEED - timedelta(hours=1), modified_at=FEED - timedelta(days=9),
                 modified_source="meta")  # fmt: skip
    merged = merge_dates(FeedDates(FEED), page)
    assert (merged.modified_at, merged.modified_source) == (None, None)


def test_a_date_shown_on_the_page_ranks_after_the_feed() -> None:
    shown = FEED - timedelta(hours=5)
    merged = merge_dates(FeedDates(FEED), _page(shown, "shown"))
    assert (merged.published_at, merged.published_source) == (FEED, "feed")
    alone = merge_dates(FeedDates(), _page(shown, "shown"))
    assert (alone.published_at, alone.published_source) == (shown, "shown")


def test_the_dates_of_a_page_without_text_merge_like_a_pages() -> None:
    page = PageDates(published_at=FEED - timedelta(hours=5), published_source="jsonld")
    merged = merge_dates(FeedDates(FEED), page)
    assert (merged.published_at, merged.published_source) == (FEED - timedelta(hours=5), "jsonld")
