"""What a parsed feed looks like: plain frozen records, independent of the parser behind them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, normalized.

    ``link`` is absolute http(s) or ``None``; ``title``/``summary`` are plain text; ``content``
    is sanitized HTML (no scripts, no event handlers); dates are aware UTC or ``None`` (missing,
    unparseable, before 1970 or more than two days ahead). ``date_error`` says why a date the
    entry did carry was refused (``"published '-1': no year"``), else ``None``.
    """

    guid: str | None
    link: str | None
    title: str | None
    summary: str | None
    content: str | None
    published_at: datetime | None
    updated_at: datetime | None
    authors: list[str] = field(default_factory=list)
    date_error: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """A feed document: channel fields plus at most ``max_entries`` entries, newest first."""

    format: str
    title: str | None
    site_url: str | None
    description: str | None
    ttl_s: int | None
    entries: list[FeedEntry]
    bozo: bool = False
    bozo_reason: str | None = None


def dropped_urls_note(values: list[object], max_chars: int) -> str | None:
    """Why some links or ids of the entries taken were dropped (they are longer than
    ``max_chars``: a cut URL or key is a wrong one), for the fetch log; None if none was."""
    # Distinct values: feedparser copies a permalink <guid> into the entry's link.
    lengths = [len(v) for v in dict.fromkeys(values) if isinstance(v, str) and len(v) > max_chars]
    if not lengths:
        return None
    count = "1 link or id" if len(lengths) == 1 else f"{len(lengths)} links or ids"
    return (
        f"{count} of more than {max_chars} characters dropped (longest: {max(lengths)}); "
        "their entries are kept, keyed by what else they have"
    )


class FeedParseError(Exception):
    """Nothing usable in the body.

    ``error_class`` is a short stable name for logs and the feed row:

    - ``empty``: no bytes, or only whitespace;
    - ``not_a_feed``: an HTML page, plain text, binary data, JSON or XML that is no feed;
    - ``malformed``: looks like a feed (RSS/Atom/RDF root, JSON Feed) but is broken beyond use.
    """

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class

    def __reduce__(self) -> tuple[type[FeedParseError], tuple[str, str]]:
        # Keep the error picklable with both arguments (Celery ships exceptions between processes).
        return (type(self), (self.error_class, str(self)))
