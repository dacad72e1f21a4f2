"""Refinement: the live window re-clustered, and the stored stories corrected to match.

Usage::

    report = refine_stories(sessions, window=timedelta(hours=72), max_articles=20_000)
    report.moved, report.split, report.merged, report.conflict

The online step (``assign_stories``) stays the first answer; this is the correction, run
periodically by beat (``worker.tasks.refine_stories``) and at the end of ``storywire cluster``.

1. **Read** (a short transaction, no lock): the stories active within ``window`` of the newest
   article (most recently active first, whole stories, up to ``max_articles`` articles) and
   their articles; each original's TF-IDF vector from the stored term statistics.
2. **Cluster** (no transaction): ``worker.stories.partition.cluster`` and ``reconcile``.
3. **Write** (one transaction, under the story-step lock, so no online batch interleaves):
   if an article of the window changed story, or a story of it was merged, since step 1,
   nothing is written (``conflict``; the next run starts over). Otherwise the moves, new
   stories of splits and merges, each changed story's centroid, postings, counts and
   keywords, and the outbox rows: ``story.split`` (a new story cut from ``split_from``),
   ``story.merged``, ``story.updated`` (``method`` "refine") and ``article.updated`` for each
   article that changed story. Articles the online step added to these stories meanwhile stay
   where they are and are counted in. One transaction: a killed refinement leaves the stored
   stories as they were. A run that finds nothing to change writes nothing.
"""

from __future__ import annotations

import logging
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from sqlalchemy import Row, delete, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from models import Article, Story, session_scope
from models.story_state import TERM_CHARS, StoryProfile, StoryTerm, TermStat
from worker.store import record_change
from worker.stories.assigner import DEFAULT_CONFIG, StoryConfig, count_article
from worker.stories.index import StoryDoc, StoryState, posting_terms, top_phrases
from worker.stories.partition import (
    DEFAULT_REFINE_CONFIG,
    Plan,
    RefineConfig,
    Window,
    cluster,
    reconcile,
)
from worker.stories.sql import REPORTED_AT
from worker.stories.sql_profiles import DEFAULT_KEYWORDS
from worker.stories.sql_writes import text_array
from worker.stories.step import doc_of, lock_story_step
from worker.stories.text import extract_terms, key_phrases
from worker.stories.vectors import Vector, top_terms, weigh

log = logging.getLogger(__name__)

#: Articles of the live window re-clustered per run, at most (whole stories, newest first).
DEFAULT_REFINE_MAX_ARTICLES = 20_000
#: Terms whose document counts one statement reads.
DEFAULT_TERM_CHUNK = 2000
# The counts of an array of terms, each looked up by the primary key (worker/stories/sql.py).
_PG_TERM_COUNTS = text(
    "SELECT s.term, s.df FROM unnest(CAST(CAST(:terms AS text) AS varchar[])) AS t(term)"
    " JOIN term_stats AS s ON s.term = t.term"
)
_ARTICLE_COLUMNS = (
    Article.id,
    Article.story_id,
    Article.duplicate_of,
    Article.title,
    Article.text,
    Article.summary,
    Article.published_at,
    Article.fetched_at,
    Article.discovered_at,
    Article.language,
    Article.site_name,
    Article.canonical_url,
    Article.status,
)

_Row = Row[Any]  # a row of _ARTICLE_COLUMNS


@dataclass
class RefineReport:
    """What one refinement did; ``moved`` is its churn (articles that changed story)."""

    articles: int = 0
    stories: int = 0
    moved: int = 0
    split: int = 0
    merged: int = 0
    conflict: bool = False
    new_stories: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # read, cluster, write


@dataclass
class _Found:
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


def refine_stories(
    sessions: sessionmaker[Session],
    *,
    window: timedelta,
    max_articles: int = DEFAULT_REFINE_MAX_ARTICLES,
    until: datetime | None = None,
    config: RefineConfig = DEFAULT_REFINE_CONFIG,
    story_config: StoryConfig = DEFAULT_CONFIG,
) -> RefineReport:
    """Re-cluster the stories active within ``window`` before ``until`` (None: the newest
    article's time) and write the corrections; see the module's docstring."""
    started = time.perf_counter()
    with session_scope(sessions) as session:
        found = _read_window(session, window, max_articles, until, story_config)
    report = RefineReport(articles=len(found.members), stories=len(found.stories))
    report.seconds["read"] = time.perf_counter() - started
    if found.window is None:
        return report
    started = time.perf_counter()
    clusters = cluster(found.window, config)
    plan = reconcile(found.window, clusters, found.stories)
    report.seconds["cluster"] = time.perf_counter() - started
    if not (plan.moves or plan.merged):
        return report
    started = time.perf_counter()
    with session_scope(sessions) as session:
        lock_story_step(session)
        if _changed_since(session, found):
            report.conflict = True
            log.info("refinement skipped: the window changed while it was computed")
            return report
        _apply(session, found, plan, report, story_config)
    report.seconds["write"] = time.perf_counter() - started
    return report


def _read_window(
    session: Session,
    window: timedelta,
    max_articles: int,
    until: datetime | None,
    config: StoryConfig,
) -> _Found:
    newest = until or session.scalar(
        select(func.max(REPORTED_AT)).where(Article.story_id.is_not(None))
    )
    found = _Found()
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
    # millions of them, far less memory than as dicts.
    vocabulary: dict[str, int] = {}
    column = vocabulary.setdefault
    columns, counts, proper = array("q"), array("d"), array("b")
    indptr, ids, stories, sizes, days = [0], [], [], [], []
    originals: list[tuple[int, int | None]] = []
    for row in _articles_of(session, found.stories):
        found.members[row.id] = row.story_id
        originals.append((row.id, row.duplicate_of))
        doc = doc_of(row)
        terms = extract_terms(doc.title, doc.text, doc.language, title_weight=config.title_weight)
        columns.extend(column(t, len(vocabulary)) for t in terms.counts)
        counts.extend(terms.counts.values())
        proper.extend(t in terms.proper for t in terms.counts)
        indptr.append(len(columns))
        ids.append(row.id)
        stories.append(row.story_id)
        sizes.append(len(terms.counts))
        days.append(row.published_at.timestamp() / 86400 if row.published_at else np.nan)
    # A copy follows its original (when that is in the window too): it is no row of its own.
    in_window = set(ids)
    copies = {a: o for a, o in originals if o is not None and o in in_window}
    found.copies = copies
    found.terms = list(vocabulary)
    n_docs, df = _counts(session, set(vocabulary))
    matrix = _weigh(
        np.frombuffer(columns, dtype=np.int64),
        np.frombuffer(counts, dtype=np.float64),
        np.frombuffer(proper, dtype=np.int8).astype(bool),
        np.array(indptr, dtype=np.int64),
        found.terms,
        n_docs,
        df,
        config,
    )
    keep = np.array([a not in copies for a in ids], dtype=bool)
    if not keep.any():
        return found
    kept_ids = np.array(ids, dtype=np.int64)[keep]
    found.rows = {int(a): i for i, a in enumerate(kept_ids)}
    found.window = Window(
        ids=kept_ids,
        vectors=matrix[np.flatnonzero(keep)],
        stories=np.array(stories, dtype=np.int64)[keep],
        terms=np.array(sizes, dtype=np.int64)[keep],
        days=np.array(days, dtype=np.float64)[keep],
    )
    return found


def _weigh(
    columns: np.ndarray,
    counts: np.ndarray,
    proper: np.ndarray,
    indptr: np.ndarray,
    terms: list[str],
    n_docs: int,
    df: Mapping[str, int],
    config: StoryConfig,
) -> sp.csr_matrix:
    """``worker.stories.vectors.weigh`` for every article at once: unit rows."""
    frequency = np.array([df.get(t, 0) for t in terms], dtype=np.float64)
    numeric = np.array([not t.isalpha() and any(map(str.isdigit, t)) for t in terms], dtype=bool)
    tf = np.where(counts >= 1.0, 1.0 + np.log(np.maximum(counts, 1.0)), counts)
    idf = np.log((n_docs + 1) / (frequency[columns] + 1)) + 1.0
    boost = np.where(
        proper, config.proper_weight, np.where(numeric[columns], config.number_weight, 1.0)
    )
    weights = tf * idf * boost
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=len(indptr) - 1))
    weights = weights / np.where(norms > 0, norms, 1.0)[rows]
    return sp.csr_matrix((weights, columns, indptr), shape=(len(indptr) - 1, max(len(terms), 1)))


def _articles_of(session: Session, story_ids: Iterable[int]) -> Iterator[_Row]:
    """The articles of these stories (copies too), in id order per chunk of stories."""
    ids = sorted(story_ids)
    for start in range(0, len(ids), DEFAULT_TERM_CHUNK):
        chunk = ids[start : start + DEFAULT_TERM_CHUNK]
        yield from session.execute(  # type: ignore[misc]
            select(*_ARTICLE_COLUMNS).where(Article.story_id.in_(chunk)).order_by(Article.id)
        )


def _counts(session: Session, terms: set[str]) -> tuple[int, dict[str, int]]:
    wanted = sorted({t[:TERM_CHARS] for t in terms} | {""})
    df: dict[str, int] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(wanted), DEFAULT_TERM_CHUNK):
        chunk = wanted[start : start + DEFAULT_TERM_CHUNK]
        if postgres:  # one array literal: psycopg would convert thousands of parameters
            found = session.execute(_PG_TERM_COUNTS, {"terms": text_array(chunk)})
        else:
            found = session.execute(
                select(TermStat.term, TermStat.df).where(TermStat.term.in_(chunk))
            )
        df.update((t, int(c)) for t, c in found)
    n_docs = df.pop("", 0)
    # A term longer than the stored key is counted under its cut form.
    return n_docs, {t: df.get(t[:TERM_CHARS], 0) for t in terms}


def _changed_since(session: Session, found: _Found) -> bool:
    """Whether an article of the window changed story, or a story of it was merged."""
    ids = sorted(found.members)
    for start in range(0, len(ids), DEFAULT_TERM_CHUNK):
        chunk = ids[start : start + DEFAULT_TERM_CHUNK]
        for article_id, story_id in session.execute(
            select(Article.id, Article.story_id).where(Article.id.in_(chunk))
        ):
            if found.members.get(article_id) != story_id:
                return True
    stories = sorted(found.stories)
    for start in range(0, len(stories), DEFAULT_TERM_CHUNK):
        chunk = stories[start : start + DEFAULT_TERM_CHUNK]
        merged = session.scalar(
            select(func.count())
            .select_from(Story)
            .where(Story.id.in_(chunk), Story.merged_into.is_not(None))
        )
        if merged:
            return True
    return False


def _apply(
    session: Session, found: _Found, plan: Plan, report: RefineReport, story_config: StoryConfig
) -> None:
    created: dict[str, int] = {}
    for key in sorted(plan.splits, key=lambda k: int(k.split("-")[1])):
        story = Story(article_count=0, outlet_count=0, keywords=[])
        session.add(story)
        session.flush()
        created[key] = story.id
        report.new_stories.append(story.id)

    def resolve(target: int | str) -> int:
        return created[target] if isinstance(target, str) else target

    moved: dict[int, int] = {}
    for article_id, target in plan.moves.items():
        moved[article_id] = resolve(target)
    for copy, original in found.copies.items():  # copies follow their original
        if original in moved:
            moved[copy] = moved[original]
    for article_id in sorted(moved):
        session.execute(
            update(Article)
            .where(Article.id == article_id)
            .values(story_id=moved[article_id])
            .execution_options(synchronize_session=False)
        )
    touched = {found.members[a] for a in moved} | set(moved.values())
    for gone, target in sorted(plan.merged.items()):
        survivor = resolve(target)
        session.execute(
            update(Story)
            .where(Story.merged_into == gone)
            .values(merged_into=survivor)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Story)
            .where(Story.id == gone)
            .values(merged_into=survivor)
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(StoryTerm).where(StoryTerm.story_id == gone))
        left = sum(1 for a, s in found.members.items() if s == gone)
        record_change(session, "story.merged", gone, merged_into=survivor, articles=left)
    for key, story_id in created.items():
        size = sum(1 for t in moved.values() if t == story_id)
        record_change(session, "story.split", story_id, split_from=plan.splits[key], articles=size)
    for story_id in sorted(touched - set(plan.merged)):
        _rebuild(session, story_id, found, story_config, new=story_id in created.values())
        if story_id not in created.values():
            record_change(session, "story.updated", story_id, method="refine")
    for article_id in sorted(moved):
        record_change(
            session, "article.updated", article_id, story_id=moved[article_id], method="refine"
        )
    report.moved = len(moved)
    report.split = len(created)
    report.merged = len(plan.merged)


def _rebuild(
    session: Session, story_id: int, found: _Found, config: StoryConfig, *, new: bool
) -> None:
    """A story's row, profile and postings recomputed from its members as they are now."""
    rows = sorted(
        session.execute(select(*_ARTICLE_COLUMNS).where(Article.story_id == story_id)).all(),
        key=lambda r: r.id,
    )
    member_ids = {r.id for r in rows}
    state = StoryState(story_id, {}, None, None)
    total: Vector = {}
    outlets: set[str] = set()
    earliest: tuple[datetime, int, str | None] | None = None
    for row in rows:
        doc = doc_of(row)
        copy = row.duplicate_of is not None and row.duplicate_of in member_ids
        phrases = [] if copy else _phrases(doc)
        count_article(state, doc, phrases)
        if doc.outlet:
            outlets.add(doc.outlet)
        if not copy:
            vec = found.vector(row.id) or _vector(session, doc, config)
            for term, weight in vec.items():
                total[term] = total.get(term, 0.0) + weight
        if doc.published_at is not None and (
            earliest is None or (doc.published_at, row.id) < earliest[:2]
        ):
            earliest = (doc.published_at, row.id, doc.title)
    centroid = top_terms(total, config.centroid_terms)
    values: dict[str, object] = {
        "first_published_at": state.first_published_at,
        "last_published_at": state.last_published_at,
        "article_count": state.article_count,
        "outlet_count": len(outlets),
        "keywords": top_phrases(state.phrases, DEFAULT_KEYWORDS),
    }
    if new:
        values["headline"] = earliest[2] if earliest else (rows[0].title if rows else None)
        values["language"] = _most_common(r.language for r in rows)
    session.execute(
        update(Story)
        .where(Story.id == story_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    profile = session.get(StoryProfile, story_id)
    if profile is None:
        profile = StoryProfile(story_id=story_id)
        session.add(profile)
    profile.centroid = centroid
    profile.phrases = dict(state.phrases)
    profile.outlets = sorted(outlets)
    session.execute(delete(StoryTerm).where(StoryTerm.story_id == story_id))
    postings = [
        {"story_id": story_id, "term": t[:TERM_CHARS], "weight": w}
        for t, w in posting_terms(centroid).items()
    ]
    if postings:
        session.execute(insert(StoryTerm), _distinct_terms(postings))


def _distinct_terms(rows: Sequence[Mapping[str, object]]) -> list[Mapping[str, object]]:
    # Two long terms may share their stored (cut) form: one posting each.
    seen: set[object] = set()
    out = []
    for row in rows:
        if row["term"] not in seen:
            seen.add(row["term"])
            out.append(row)
    return out


def _phrases(doc: StoryDoc) -> list[str]:
    return key_phrases(f"{doc.title or ''}.\n{doc.text or ''}", limit=10, language=doc.language)


def _vector(session: Session, doc: StoryDoc, config: StoryConfig) -> Vector:
    terms = extract_terms(doc.title, doc.text, doc.language, title_weight=config.title_weight)
    n_docs, df = _counts(session, set(terms.counts))
    return weigh(
        terms, n_docs, df, proper_weight=config.proper_weight, number_weight=config.number_weight
    )


def _most_common(values: Iterable[str | None]) -> str | None:
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else None
