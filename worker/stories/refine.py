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
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Article, Story, session_scope
from models.stories_index import TERM_CHARS, StoryProfile, StoryTerm, TermStat
from worker.store import record_change
from worker.stories.assigner import DEFAULT_CONFIG, StoryConfig, count_article
from worker.stories.index import StoryDoc, StoryState, posting_terms, top_phrases
from worker.stories.partition import (
    DEFAULT_REFINE_CONFIG,
    Plan,
    RefineConfig,
    WindowArticle,
    cluster,
    reconcile,
)
from worker.stories.sql import DEFAULT_KEYWORDS, REPORTED_AT
from worker.stories.store import doc_of, lock_story_step
from worker.stories.text import extract_terms, key_phrases
from worker.stories.vectors import Vector, top_terms, weigh

log = logging.getLogger(__name__)

#: Articles of the live window re-clustered per run, at most (whole stories, newest first).
DEFAULT_REFINE_MAX_ARTICLES = 20_000
#: Terms whose document counts one statement reads.
DEFAULT_TERM_CHUNK = 2000
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


@dataclass
class _Window:
    stories: dict[int, tuple[datetime | None, int]]  # story -> (first published, id)
    members: dict[int, int]  # every article (copies too) -> its story at read time
    originals: list[WindowArticle]
    copies: dict[int, int]  # copy -> its original
    docs: dict[int, StoryDoc]
    vectors: dict[int, Vector]


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
    with session_scope(sessions) as session:
        found = _read_window(session, window, max_articles, until, story_config)
    report = RefineReport(articles=len(found.members), stories=len(found.stories))
    if not found.originals:
        return report
    clusters = cluster(found.originals, config)
    plan = reconcile(found.originals, clusters, found.stories)
    if not (plan.moves or plan.merged):
        return report
    with session_scope(sessions) as session:
        lock_story_step(session)
        if _changed_since(session, found):
            report.conflict = True
            log.info("refinement skipped: the window changed while it was computed")
            return report
        _apply(session, found, plan, report, story_config)
    return report


def _read_window(
    session: Session,
    window: timedelta,
    max_articles: int,
    until: datetime | None,
    story_config: StoryConfig,
) -> _Window:
    newest = until or session.scalar(
        select(func.max(REPORTED_AT)).where(Article.story_id.is_not(None))
    )
    found = _Window({}, {}, [], {}, {}, {})
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
    rows = _articles_of(session, found.stories)
    ids = {row.id for row in rows}
    terms = {}
    for row in rows:
        found.members[row.id] = row.story_id
        if row.duplicate_of is not None and row.duplicate_of in ids:
            found.copies[row.id] = row.duplicate_of
            continue
        found.docs[row.id] = doc = doc_of(row)
        terms[row.id] = extract_terms(
            doc.title, doc.text, doc.language, title_weight=story_config.title_weight
        )
    n_docs, df = _counts(session, {t for found_terms in terms.values() for t in found_terms.counts})
    for row in rows:
        if row.id not in terms:
            continue
        vec = weigh(
            terms[row.id],
            n_docs,
            df,
            proper_weight=story_config.proper_weight,
            number_weight=story_config.number_weight,
        )
        found.vectors[row.id] = vec
        found.originals.append(
            WindowArticle(row.id, row.story_id, vec, len(terms[row.id].counts), row.published_at)
        )
    return found


def _articles_of(session: Session, story_ids: Iterable[int]) -> list[_Row]:
    ids = sorted(story_ids)
    rows: list[_Row] = []
    for start in range(0, len(ids), DEFAULT_TERM_CHUNK):
        chunk = ids[start : start + DEFAULT_TERM_CHUNK]
        rows += session.execute(  # type: ignore[arg-type]
            select(*_ARTICLE_COLUMNS).where(Article.story_id.in_(chunk)).order_by(Article.id)
        ).all()
    rows.sort(key=lambda r: r.id)
    return rows


def _counts(session: Session, terms: set[str]) -> tuple[int, dict[str, int]]:
    wanted = sorted({t[:TERM_CHARS] for t in terms} | {""})
    df: dict[str, int] = {}
    for start in range(0, len(wanted), DEFAULT_TERM_CHUNK):
        chunk = wanted[start : start + DEFAULT_TERM_CHUNK]
        df.update(
            (t, int(c))
            for t, c in session.execute(
                select(TermStat.term, TermStat.df).where(TermStat.term.in_(chunk))
            )
        )
    n_docs = df.pop("", 0)
    # A term longer than the stored key is counted under its cut form.
    return n_docs, {t: df.get(t[:TERM_CHARS], 0) for t in terms}


def _changed_since(session: Session, found: _Window) -> bool:
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
    session: Session, found: _Window, plan: Plan, report: RefineReport, story_config: StoryConfig
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
    session: Session, story_id: int, found: _Window, config: StoryConfig, *, new: bool
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
        doc = found.docs.get(row.id) or doc_of(row)
        copy = row.duplicate_of is not None and row.duplicate_of in member_ids
        phrases = [] if copy else _phrases(doc)
        count_article(state, doc, phrases)
        if doc.outlet:
            outlets.add(doc.outlet)
        if not copy:
            vec = found.vectors.get(row.id) or _vector(session, doc, config)
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
