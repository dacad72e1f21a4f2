"""The input of ``storywire cluster``: a JSON-lines file of documents, checked and ordered.

Usage::

    with open(path, "rb") as file:
        found = plan(file)                      # every line checked, none held in memory
        if not found.errors:
            docs = found.docs(file)             # the documents, in publication order

One JSON object per line: ``{"id", "title", "text", "published_at"?, "url"?, "source"?}``.
Every check is here, before anything is stored (``worker.pipeline.backfill`` stores what
passes): a file is stored whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from dateutil import parser as dateparser

#: Publication dates accepted: far enough from the ends of Python's calendar that the story
#: step's windows (a year at most) never step past them.
DEFAULT_EARLIEST_DATE = datetime(1000, 1, 1, tzinfo=UTC)
DEFAULT_LATEST_DATE = datetime(3000, 1, 1, tzinfo=UTC)


class BackfillError(ValueError):
    """An input line is not a usable document: ``line`` says which, ``reason`` why."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class BackfillDoc:
    id: str
    title: str
    text: str
    published_at: datetime | None = None
    url: str | None = None
    source: str | None = None

    @classmethod
    def from_json(cls, record: Any, line: int) -> BackfillDoc:
        """The document a decoded JSON line describes (see :func:`parse_document`)."""
        return _checked_document(record, line)

    def contents(self) -> tuple[object, ...]:
        """What the document says besides its id."""
        return (self.title, self.text, self.published_at, self.url, self.source)


def parse_document(line: bytes, number: int) -> BackfillDoc:
    """Input line ``number`` as a document, or a :class:`BackfillError` saying why not.

    Every check of an input line is here, before anything is stored: what passes can be
    stored by every database Storywire runs on (no NUL, no lone surrogate, a date within
    years 1000-2999 in UTC), so a file is stored whole or not at all."""
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BackfillError(number, f"not UTF-8: {exc}") from exc
    try:
        record = json.loads(decoded, parse_constant=_not_a_json_constant)
    except json.JSONDecodeError as exc:
        raise BackfillError(number, f"not JSON: {exc}") from exc
    except RecursionError:
        raise BackfillError(number, "not JSON this reader accepts: nested too deeply") from None
    except ValueError as exc:  # a number of more digits than Python converts
        raise BackfillError(number, f"not JSON this reader accepts: {exc}") from None
    return _checked_document(record, number)


def _checked_document(record: Any, line: int) -> BackfillDoc:
    if not isinstance(record, Mapping) or not _usable_id(record.get("id")):
        raise BackfillError(line, 'an object with an "id" (a string or a number) is required')
    title, text = record.get("title") or "", record.get("text") or ""
    if not isinstance(title, str) or not isinstance(text, str) or not (title or text):
        raise BackfillError(line, '"title" and/or "text" strings are required')
    for optional in ("url", "source"):
        if record.get(optional) is not None and not isinstance(record[optional], str):
            raise BackfillError(line, f'"{optional}" must be a string')
    for name in ("id", "title", "text", "url", "source", "published_at"):
        if isinstance(record.get(name), str):
            _check_storable(name, record[name], line)
    return BackfillDoc(
        id=str(record["id"]),
        title=title,
        text=text,
        published_at=_date(record.get("published_at"), line),
        url=record.get("url") or None,
        source=record.get("source") or None,
    )


def _not_a_json_constant(name: str) -> None:
    # Python's reader takes NaN and Infinity, which JSON does not have.
    raise ValueError(f"{name} is not a JSON value")


def _check_storable(name: str, value: str, line: int) -> None:
    if "\x00" in value:
        raise BackfillError(line, f'"{name}" contains a NUL character, which no database stores')
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start : exc.end].encode("unicode_escape").decode("ascii")
        raise BackfillError(
            line, f'"{name}" contains a lone surrogate ({bad}), which is not a character'
        ) from None


@dataclass(frozen=True)
class BackfillPlan:
    """A checked file: where its documents are, in publication order, and every unusable
    line's error (``plan``)."""

    lines: list[tuple[int, int]]  # (byte offset, line number) of each document, in order
    errors: list[BackfillError]

    def docs(self, file: BinaryIO) -> Iterator[BackfillDoc]:
        """The documents of ``file`` (the one planned), read one at a time in order."""
        for offset, number in self.lines:
            file.seek(offset)
            yield parse_document(file.readline(), number)


def plan(file: BinaryIO) -> BackfillPlan:
    """Check every line of a UTF-8 JSON-lines file (blank lines skipped) and order its
    documents for the story step; only offsets, ids and dates are kept, not the texts.

    An id given twice is one document when both lines say the same (both get an output
    line); with other contents the later line is an error: ids are the caller's keys for the
    output lines."""
    found: list[tuple[int, int]] = []
    dates: list[datetime | None] = []
    errors: list[BackfillError] = []
    first: dict[str, tuple[int, bytes]] = {}  # id -> (line, digest of its contents)
    offset = 0
    for number, line in enumerate(file, start=1):
        at, offset = offset, offset + len(line)
        if not line.strip():
            continue
        try:
            doc = parse_document(line, number)
            digest = hashlib.sha256(repr(doc.contents()).encode()).digest()
            seen = first.setdefault(doc.id, (number, digest))
            if seen[1] != digest:
                other = f"id {doc.id!r} is also on line {seen[0]}, with other contents"
                raise BackfillError(number, other)
        except BackfillError as exc:
            errors.append(exc)
            continue
        found.append((at, number))
        dates.append(doc.published_at)
    return BackfillPlan([found[i] for i in _publication_order(dates)], errors)


def _usable_id(value: Any) -> bool:
    if isinstance(value, bool):  # JSON true/false: a number to Python, not an id
        return False
    if isinstance(value, float):
        return math.isfinite(value)  # 1e999 reads as infinity: not one document's key
    return isinstance(value, int) or (isinstance(value, str) and value.strip() != "")


def _date(value: Any, line: int) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = dateparser.isoparse(str(value))
    except (ValueError, OverflowError) as exc:
        raise BackfillError(line, f"published_at {value!r} is not an ISO 8601 date") from exc
    try:
        utc = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except OverflowError:
        utc = None  # past year 9999 or before year 1 once in UTC
    if utc is None or not DEFAULT_EARLIEST_DATE <= utc < DEFAULT_LATEST_DATE:
        raise BackfillError(
            line,
            f"published_at {value!r} is out of range: years "
            f"{DEFAULT_EARLIEST_DATE.year}-{DEFAULT_LATEST_DATE.year - 1} (UTC) are accepted",
        )
    return utc


def publication_order(docs: Sequence[BackfillDoc]) -> list[BackfillDoc]:
    """Documents by ``published_at``; an undated one keeps its place after its predecessor."""
    return [docs[i] for i in _publication_order([d.published_at for d in docs])]


def _publication_order(dates: Sequence[datetime | None]) -> list[int]:
    keys: list[tuple[datetime, int]] = []
    last = datetime.min.replace(tzinfo=UTC)
    for position, when in enumerate(dates):
        last = when or last
        keys.append((last, position))
    keys.sort()
    return [position for _, position in keys]
