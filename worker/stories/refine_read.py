"""What a refinement reads: the live window's stories and articles, and their vectors.

Usage (``worker.stories.refine`` does this)::

    with session_scope(sessions) as session:
        found = read_window(session, window, max_articles, until, config)
    found.window          # the articles as arrays (worker.stories.partition.Window)
    found.vector(42)      # one article's vector as a dict

A window of 20,000 articles holds millions of terms: they are kept as flat arrays and weighed
all at once with NumPy (the same weights as ``worker.stories.vectors.weigh``), not as a dict
per article.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import repeat
from typing import Any

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from models import Article, Story
from worker.stories.assigner import StoryConfig
from worker.stories.docs import DOC_COLUMNS, doc_of
from worker.stories.partition import (
    Window,
)
from worker.stories.sql import REPORTED_AT
from worker.stories.sql_terms import read_term_counts
from worker.stories.terms import extract_terms
from worker.stories.vectors import Vector

log = logging.getLogger(__name__)


#: Ids (of stories or articles) one statement reads or writes.
DEFAULT_ID_CHUNK = 2000
ARTICLE_COLUMNS = (Article.id, Article.story_id, Article.duplicate_of, *DOC_COLUMNS)

ArticleRow = Row[Any]  # a row of ARTICLE_COLUMNS


@dataclass
class WindowRead:
    """What a refinement read: the window's stories and articles, and their vectors."""

    stories: dict[int, tuple[datetime | None, int]] = field(default_factory=dict)
    members: dict[int, int] = field(default_factory=dict)  # article (copies too) -> story
    copies: dict[int, int] = field(default_factory=dict)  # copy -> its original
    window: Window | None = None
    terms: list[str] = field(default_factory=list)  # the vectors' columns
    rows: dict[int, int] = field(default_factory=dict)  # original -> its row

    def vector(self, article_id: int) -> Vector | None:
        row = self.rows.get(article_id)
        if row is None or self.window is None:
            return None
        m = self.window.vectors
        start, end = m.indptr[row], m.indptr[row + 1]
        terms = self.terms
        entries = zip(m.indices[start:end].tolist(), m.data[start:end].tolist(), strict=True)
        return {terms[j]: w for j, w in entries}


def read_window(
    session: Session,
    window: timedelta,
    max_articles: int,
    until: datetime | None,
    config: StoryConfig,
) -> WindowRead:
    newest = until or session.scalar(
        select(func.max(REPORTED_AT)).where(Article.story_id.is_not(None))
    )
    found = WindowRead()
    if newest is None:
        return found
    live = session.execute(
        select(Story.id, Story.first_published_at, Story.article_count)
        .where(Story.merged_into.is_(None), Story.last_published_at >= newest - window)
        .where(Story.last_published_at <= newest)
        .order_by(Story.last_published_at.desc(), Story.id.desc())
    )
    total = 0
    for story_id, first, count in live:
        if total + count > max_articles and found.stories:
            break
        total += count
        found.stories[story_id] = (first, story_id)
    # Terms as flat arrays (an article's are a slice): a window of 20,000 articles holds
    # millions of them, far less memory than as dicts; filled by C-level extends and maps.
    every: list[str] = []  # each article's terms in turn (indexed once, after the loop)
    counts, proper = array("d"), array("b")
    indptr, ids, stories, sizes, days = [0], [], [], [], []
    # Each article's run of terms in turn (its phrases are the adjacent pairs): paired as term
    # numbers with NumPy after the loop, not as a string per pair.
    runs: list[str] = []
    run_lengths: list[int] = []
    originals: list[tuple[int, int | None]] = []
    for row in _articles_of(session, found.stories):
        found.members[row.id] = row.story_id
        originals.append((row.id, row.duplicate_of))
        doc = doc_of(row)
        terms = extract_terms(
            doc.title, doc.text, doc.language, title_weight=config.title_weight, pairs=True
        )
        every.extend(terms.counts)
        counts.extend(terms.counts.values())
        proper.extend(map(terms.proper.__contains__, terms.counts))
        indptr.append(len(every))
        runs.extend(terms.run)  # ends with a break: no pair spans two articles
        run_lengths.append(len(terms.run))
        ids.append(row.id)
        stories.append(row.story_id)
        sizes.append(len(terms.counts))
        days.append(row.published_at.timestamp() / 86400 if row.published_at else np.nan)
    # A copy follows its original (when that is in the window too): it is no row of its own.
    in_window = set(ids)
    copies = {a: o for a, o in originals if o is not None and o in in_window}
    found.copies = copies
    found.terms = list(dict.fromkeys(every))
    index = {term: i for i, term in enumerate(found.terms)}
    columns = np.fromiter(map(index.__getitem__, every), dtype=np.int64, count=len(every))
    del every
    n_docs, df = read_term_counts(session, index)
    numeric = _numeric(found.terms)
    matrix = _weigh(
        columns,
        np.frombuffer(counts, dtype=np.float64),
        np.frombuffer(proper, dtype=np.int8).astype(bool),
        np.array(indptr, dtype=np.int64),
        numeric,
        n_docs,
        np.array([df.get(t, 0) for t in found.terms], dtype=np.float64),
        config,
    )
    keep = np.array([a not in copies for a in ids], dtype=bool)
    if not keep.any():
        return found
    sequence = np.fromiter(map(index.get, runs, repeat(-1)), dtype=np.int64, count=len(runs))
    del runs
    phrases = _phrases(sequence, np.array(run_lengths, dtype=np.int64), numeric, keep, config)
    kept_ids = np.array(ids, dtype=np.int64)[keep]
    found.rows = {int(a): i for i, a in enumerate(kept_ids)}
    found.window = Window(
        ids=kept_ids,
        vectors=matrix[np.flatnonzero(keep)],
        stories=np.array(stories, dtype=np.int64)[keep],
        terms=np.array(sizes, dtype=np.int64)[keep],
        days=np.array(days, dtype=np.float64)[keep],
        phrases=phrases,
    )
    return found


def _phrases(
    sequence: np.ndarray,
    lengths: np.ndarray,
    numeric: np.ndarray,
    keep: np.ndarray,
    config: StoryConfig,
) -> sp.csr_matrix:
    """The originals' unit TF-IDF vectors of adjacent term pairs (``sequence``: every article's
    run as term columns, -1 for a sentence break; ``lengths``: each article's share). No table
    counts pairs (the online step never reads them), so their document frequencies are the
    window's own: a window of thousands of articles is a fair sample of the news it holds."""
    width = max(len(numeric), 1)
    first, second = sequence[:-1], sequence[1:]
    valid = (first >= 0) & (second >= 0)
    row = np.repeat(np.arange(len(lengths)), lengths)[:-1][valid]
    keys, column = np.unique(first[valid] * width + second[valid], return_inverse=True)
    cells, counts = np.unique(row * len(keys) + column, return_counts=True)
    rows, columns = cells // max(len(keys), 1), cells % max(len(keys), 1)
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(lengths)), out=indptr[1:])
    frequency = np.bincount(columns[keep[rows]], minlength=len(keys)).astype(np.float64)
    pair_numeric = numeric[keys // width] | numeric[keys % width]
    proper = np.zeros(len(columns), dtype=bool)  # names weigh in the terms already
    matrix = _weigh(
        columns,
        counts.astype(np.float64),
        proper,
        indptr,
        pair_numeric,
        int(keep.sum()),
        frequency,
        config,
    )
    return matrix[np.flatnonzero(keep)]


def _weigh(
    columns: np.ndarray,
    counts: np.ndarray,
    proper: np.ndarray,
    indptr: np.ndarray,
    numeric: np.ndarray,
    n_docs: int,
    frequency: np.ndarray,
    config: StoryConfig,
) -> sp.csr_matrix:
    """``worker.stories.vectors.weigh`` for every article at once: unit rows (per term, by
    column: ``numeric``, whether it holds a digit; ``frequency``, its document frequency)."""
    tf = np.where(counts >= 1.0, 1.0 + np.log(np.maximum(counts, 1.0)), counts)
    idf = np.log((n_docs + 1) / (frequency[columns] + 1)) + 1.0
    boost = np.where(
        proper, config.proper_weight, np.where(numeric[columns], config.number_weight, 1.0)
    )
    weights = tf * idf * boost
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=len(indptr) - 1))
    weights = weights / np.where(norms > 0, norms, 1.0)[rows]
    shape = (len(indptr) - 1, max(len(numeric), 1))
    return sp.csr_matrix((weights, columns, indptr), shape=shape)


def _numeric(terms: Iterable[str]) -> np.ndarray:
    """Whether each term holds a digit (``worker.stories.vectors.weigh``'s number boost)."""
    return np.array([not t.isalpha() and any(map(str.isdigit, t)) for t in terms], dtype=bool)


def _articles_of(session: Session, story_ids: Iterable[int]) -> Iterator[ArticleRow]:
    """The articles of these stories (copies too), in id order per chunk of stories."""
    ids = sorted(story_ids)
    for start in range(0, len(ids), DEFAULT_ID_CHUNK):
        chunk = ids[start : start + DEFAULT_ID_CHUNK]
        yield from session.execute(  # type: ignore[misc]
            select(*ARTICLE_COLUMNS).where(Article.story_id.in_(chunk)).order_by(Article.id)
        )
