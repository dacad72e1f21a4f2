"""The article columns a page sets, merged with what its feed said."""

from __future__ import annotations

from datetime import UTC, datetime

from models import DateSource
from worker.extract import ExtractedPage
from worker.pipeline.columns import StubFields, date_columns, page_record

FEED_DAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FIRST_ENTRY = datetime(2026, 1, 5, tzinfo=UTC)


def test_the_page_wins_for_its_text_the_feed_stands_in_for_what_it_lacks() -> None:
    page = ExtractedPage(title=None, text="Body.", language="en", description="page summary")
    stub = StubFields(title="Feed title", summary="feed summary", authors=["Jane Doe"])
    record = page_record(page, stub)
    assert (record["title"], record["text"], record["language"]) == ("Feed title", "Body.", "en")
    # The feed's summary is preferred: the publisher wrote it for the listing.
    assert (record["summary"], record["authors"]) == ("feed summary", ["Jane Doe"])
    assert record["content_hash"] is not None
    assert page_record(ExtractedPage(title="T", text=None), stub)["content_hash"] is None


def test_only_the_feeds_own_dates_are_merged_with_the_page() -> None:
    page = ExtractedPage(title="T", text="x")
    from_feed = StubFields(published=(FEED_DAY, DateSource.FEED), first_entry_at=FIRST_ENTRY)
    assert date_columns(page, from_feed)["published_source"] == DateSource.FEED
    # A date an earlier page gave is not the feed's: the new page decides alone.
    from_page = StubFields(published=(FEED_DAY, DateSource.JSONLD))
    assert date_columns(page, from_page)["published_at"] is None


def test_the_pages_refusals_replace_the_feeds_and_none_keeps_them() -> None:
    stub = StubFields(date_error="feed: no year", first_entry_at=FIRST_ENTRY)
    quiet = ExtractedPage(title="T", text="x")
    assert date_columns(quiet, stub)["date_error"] == "feed: no year"
    refusing = ExtractedPage(title="T", text="x", date_error="meta: in the future")
    assert date_columns(refusing, stub)["date_error"] == "meta: in the future"
    too_old = ExtractedPage(
        title="T", text="x", published_at=datetime(2020, 1, 1, tzinfo=UTC), published_source="meta"
    )
    refused = date_columns(too_old, stub)
    assert refused["published_at"] is None
    assert refused["date_error"].startswith("meta 2020-01-01")
