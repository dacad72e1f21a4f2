"""The article columns a page sets, merged with what its feed said.

Usage::

    from worker.pipeline.columns import StubFields, page_record

    values = page_record(extracted_page, StubFields(title=feed_title, summary=feed_summary))

What the article step stores, and what ``storywire extract`` prints. The page wins for its
text, language, site and image; the feed's title, authors and summary stand in where the page
has none (the feed's summary is preferred: the publisher wrote it for the listing); the dates
are merged by :func:`worker.pipeline.dates.merge_dates`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models import DateSource
from worker.dedupe import content_hash
from worker.extract import ExtractedPage
from worker.pipeline.dates import FeedDates, PageDateFields, merge_dates

#: Longest ``articles.date_error`` kept.
DEFAULT_DATE_ERROR_CHARS = 2000


@dataclass
class StubFields:
    """What the feed said about an article, before its page was read."""

    title: str | None = None
    summary: str | None = None
    authors: list[str] = field(default_factory=list)
    published: tuple[datetime | None, str | None] = (None, None)
    modified: tuple[datetime | None, str | None] = (None, None)
    first_entry_at: datetime | None = None  # the oldest entry date its feed ever gave
    date_error: str | None = None  # why the feed's own dates were refused

    @property
    def feed_published_at(self) -> datetime | None:
        """The publication date the feed gave: it ranks above any date guessed from the page
        (``worker.pipeline.dates``), so the page's text need not be scanned for one."""
        return self.published[0] if self.published[1] == DateSource.FEED else None


def page_record(page: ExtractedPage, stub: StubFields) -> dict[str, Any]:
    """The article columns an extracted page sets, merged with the feed's (``stub``)."""
    return {
        "title": page.title or stub.title,
        "text": page.text,
        "content_hash": content_hash(page.text) if page.text else None,
        "authors": page.authors or stub.authors,
        **date_columns(page, stub),
        "summary": stub.summary or page.description,
        "language": page.language,
        "site_name": page.site_name,
        "image_url": page.image_url,
    }


def date_columns(page: PageDateFields, stub: StubFields) -> dict[str, Any]:
    """The date columns of an article: the page's dates merged with the feed's (``stub``)."""
    feed = FeedDates(
        stub.feed_published_at,
        stub.modified[0] if stub.modified[1] == DateSource.FEED else None,
        stub.first_entry_at,
    )
    dates = merge_dates(feed, page)
    # The page's refusals replace the feed's; with none, what the feed's were stays.
    refused = [*dates.problems, *([page.date_error] if page.date_error else [])]
    return {
        "published_at": dates.published_at,
        "published_source": dates.published_source,
        "modified_at": dates.modified_at,
        "modified_source": dates.modified_source,
        "date_error": "; ".join(refused)[:DEFAULT_DATE_ERROR_CHARS] or stub.date_error,
    }
