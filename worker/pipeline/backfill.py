"""Offline backfill: documents from a file go through the worker's own story step.

Usage::

    with open(path, "rb") as file:
        found = plan(file)                      # every line checked, none held in memory
        if not found.errors:
            results = backfill(sessions, found.docs(file))

Each document becomes an article row (status ok, text given), then the story step runs on
each in publication order — the worker's own code, in batches of ``DEFAULT_BACKFILL_BATCH``
per transaction as the ``assign_story`` task batches a backlog (with the same results as one
by one) — so a backfill and a live worker group documents the same way. A file of millions
of documents is read twice (checked, then stored line by line in publication order), never
held in memory.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from dateutil import parser as dateparser
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import Article, ArticleStatus, ChangeKind, session_scope, utcnow
from worker.dedupe import content_hash
from worker.pipeline.story import DEFAULT_BACKFILL_BATCH, assign_backfill_batch
from worker.store import record_change
from worker.stories import DEFAULT_CONFIG, StoryConfig, refine_stories
from worker.urls import canonicalize, host_of

#: Documents stored per transaction.
DEFAULT_STORE_BATCH = 500
#: Articles whose results one statement reads back.
DEFAULT_READ_CHUNK = 10_000
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


@dataclass(frozen=True)
class BackfillResult:
    id: str
    story_id: int | None
    duplicate_of: str | None


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


def backfill(
    sessions: sessionmaker[Session],
    docs: Iterable[BackfillDoc],
    *,
    run_id: int | None = None,
    config: StoryConfig = DEFAULT_CONFIG,
    on_progress: Callable[[int], None] | None = None,
    refine_max_articles: int | None = None,
) -> list[BackfillResult]:
    """Store the documents as articles and assign their stories in the order given: the
    publication order (``BackfillPlan.docs``, or ``publication_order`` of a list); then
    refine them all, as beat refines a live worker's window (``refine_stories`` with no
    window: the whole timeline, windows of at most ``refine_max_articles``; None: the default).

    ``docs`` is read once, ``DEFAULT_STORE_BATCH`` documents per transaction; only their ids
    are kept."""
    ids: list[str] = []
    article_ids: list[int] = []
    for chunk in _chunks(docs, DEFAULT_STORE_BATCH):
        with session_scope(sessions) as session:
            article_ids += [_store(session, doc, run_id) for doc in chunk]
        ids += [doc.id for doc in chunk]
    prepared = None
    for start in range(0, len(article_ids), DEFAULT_BACKFILL_BATCH):
        chunk_ids = article_ids[start : start + DEFAULT_BACKFILL_BATCH]
        following = article_ids[start + DEFAULT_BACKFILL_BATCH : start + 2 * DEFAULT_BACKFILL_BATCH]
        # In order, as one by one would (tested); the next chunk's features are computed
        # while this one is written.
        _, prepared = assign_backfill_batch(
            sessions, chunk_ids, config, prepared=prepared, following=following
        )
        if on_progress:
            on_progress(len(chunk_ids))
    refine_stories(sessions, window=None, max_articles=refine_max_articles, story_config=config)
    assigned = _assigned(sessions, article_ids)
    first: dict[int, str] = {}  # the id of the document that stored each article row
    for aid, doc_id in zip(article_ids, ids, strict=True):
        first.setdefault(aid, doc_id)
    results = []
    for aid, doc_id in zip(article_ids, ids, strict=True):
        story_id, original = assigned[aid]
        if first[aid] != doc_id:
            # Another id with the same URL (layer 1: the same article): a copy of the first.
            duplicate_of: str | None = first[aid]
        else:
            duplicate_of = first.get(original) if original is not None else None
        results.append(BackfillResult(doc_id, story_id, duplicate_of))
    return results


def _chunks(docs: Iterable[BackfillDoc], size: int) -> Iterator[list[BackfillDoc]]:
    chunk: list[BackfillDoc] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _assigned(
    sessions: sessionmaker[Session], article_ids: list[int]
) -> dict[int, tuple[int | None, int | None]]:
    """The story and original of each article, read in chunks: a statement takes at most
    65,535 parameters on Postgres (and 32,766 on many SQLite builds)."""
    unique = list(dict.fromkeys(article_ids))
    query = select(Article.id, Article.story_id, Article.duplicate_of)
    assigned: dict[int, tuple[int | None, int | None]] = {}
    with session_scope(sessions) as session:
        for start in range(0, len(unique), DEFAULT_READ_CHUNK):
            chunk = unique[start : start + DEFAULT_READ_CHUNK]
            for row in session.execute(query.where(Article.id.in_(chunk))):
                assigned[row.id] = (row.story_id, row.duplicate_of)
    return assigned


def _store(session: Session, doc: BackfillDoc, run_id: int | None) -> int:
    key = _canonical(doc, run_id)
    existing = session.scalar(select(Article.id).where(Article.canonical_url == key))
    if existing is not None:  # the same document again (or its URL): one row
        return int(existing)
    now = utcnow()
    article = Article(
        canonical_url=key,
        url=doc.url or key,
        title=doc.title or None,
        text=doc.text or None,
        content_hash=content_hash(doc.text) if doc.text else None,
        authors=[],
        published_at=doc.published_at,
        published_source="input" if doc.published_at else None,
        site_name=doc.source or (host_of(doc.url) if doc.url else None),
        status=ArticleStatus.OK,
        attempts=0,
        discovered_at=now,
        fetched_at=now,
        updated_at=now,
        run_id=run_id,
    )
    session.add(article)
    session.flush()
    record_change(session, ChangeKind.ARTICLE_CREATED, article.id, url=key, run_id=run_id)
    return article.id


def _canonical(doc: BackfillDoc, run_id: int | None) -> str:
    if doc.url:
        try:
            return canonicalize(doc.url)
        except ValueError:
            pass
    digest = hashlib.sha256(doc.id.encode("utf-8")).hexdigest()[:32]
    return f"urn:storywire:backfill:{run_id or 0}:{digest}"


__all__ = [
    "BackfillDoc",
    "BackfillError",
    "BackfillPlan",
    "BackfillResult",
    "backfill",
    "parse_document",
    "plan",
    "publication_order",
]
