"""An article's dates: what its feed said and what its page said, merged with sanity rules.

Usage::

    from worker.pipeline.dates import FeedDates, merge_dates

    merged = merge_dates(FeedDates(published_at, updated_at, first_entry_at), page)
    merged.published_at, merged.published_source, merged.modified_at, merged.modified_source
    merged.problems   # page dates refused here, e.g. "jsonld 2015-03-02: before the feed's ..."

Order of trust: the page's structured metadata (``jsonld``, ``meta``: the publisher's own
statement), then the ``feed`` (some feeds stamp the time an item was added), then the page's
``url``, the date it ``shown`` beside its headline (or labelled as its publication) and its
``text`` (guesses). The page's dates may come from a page without main text too
(``ExtractionError.dates``). Sanity rules, from what a feed entry proves:

- a page date more than :data:`DEFAULT_FEED_SLACK` after the feed's date for the entry is not
  the publication (the feed listed the article before): it is taken as a modification;
- a page date more than :data:`DEFAULT_FEED_SLACK` before the first entry this feed ever
  dated is not believed (the feed carries articles no older than its first one; an old date
  on a new item is a template's or an archive's);
- a modification before the publication is dropped.

Future dates and junk never get here: extraction and feed parsing refuse them with a reason.
Results are UTC, what the database stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from models import DateSource
from worker.text.dates import to_utc

DEFAULT_FEED_SLACK = timedelta(days=1)
"""How far a page date may stray from what the feed proves: time zones and clock skew."""

_PRECEDENCE = (
    DateSource.JSONLD,
    DateSource.META,
    DateSource.FEED,
    DateSource.URL,
    DateSource.SHOWN,
    DateSource.TEXT,
)


class PageDateFields(Protocol):
    """A page's dates: an ``ExtractedPage``, or the ``PageDates`` of a page without text."""

    @property
    def published_at(self) -> datetime | None: ...
    @property
    def published_source(self) -> str | None: ...
    @property
    def modified_at(self) -> datetime | None: ...
    @property
    def modified_source(self) -> str | None: ...
    @property
    def date_error(self) -> str | None: ...


@dataclass(frozen=True)
class FeedDates:
    """What the feed side knows: the entry's dates and the first entry the feed ever dated."""

    published_at: datetime | None = None
    modified_at: datetime | None = None
    first_entry_at: datetime | None = None


@dataclass(frozen=True)
class MergedDates:
    published_at: datetime | None
    published_source: str | None
    modified_at: datetime | None
    modified_source: str | None
    problems: tuple[str, ...] = ()


def merge_dates(feed: FeedDates, page: PageDateFields) -> MergedDates:
    """The article's published/modified dates (UTC) and the page dates refused on the way."""
    problems: list[str] = []
    published: list[tuple[datetime | None, str | None]] = [(feed.published_at, DateSource.FEED)]
    modified: list[tuple[datetime | None, str | None]] = [
        (feed.modified_at, DateSource.FEED),
        (page.modified_at, page.modified_source),
    ]
    page_published = _utc(page.published_at)
    if page_published is not None and page.published_source:
        label = f"{page.published_source} {page_published.isoformat()}"
        if (
            feed.published_at is not None
            and page_published > feed.published_at + DEFAULT_FEED_SLACK
        ):
            modified.append((page_published, page.published_source))
        elif (
            feed.first_entry_at is not None
            and page_published < feed.first_entry_at - DEFAULT_FEED_SLACK
        ):
            problems.append(
                f"{label}: before the feed's first entry ({feed.first_entry_at.date()})"
            )
        else:
            published.append((page_published, page.published_source))
    published_at, published_source = _most_trusted(published)
    modified_at, modified_source = _most_trusted(modified)
    if modified_at is not None and published_at is not None and modified_at < published_at:
        modified_at, modified_source = None, None
    return MergedDates(
        published_at, published_source, modified_at, modified_source, tuple(problems)
    )


def _most_trusted(
    candidates: list[tuple[datetime | None, str | None]],
) -> tuple[datetime | None, str | None]:
    present = [(_utc(d), s) for d, s in candidates if d is not None and s is not None]
    if not present:
        return None, None
    return min(present, key=lambda c: _PRECEDENCE.index(c[1]) if c[1] in _PRECEDENCE else 99)


def _utc(value: datetime | None) -> datetime | None:
    return to_utc(value) if value is not None else None
