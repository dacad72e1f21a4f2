"""What a refinement writes: the plan applied to the stored stories, in one transaction.

Usage (``worker.stories.refine`` does this, under the story-step lock)::

    if not changed_since(session, found):
        apply_plan(session, found, plan, report, config)

Moves, the new stories of splits, merges (``merged_into``, postings dropped), each changed
story's row, profile and postings rebuilt from its members as they are now, and the outbox
rows ``story.split``, ``story.merged``, ``story.updated`` and ``article.updated``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from models import Article, Story
from models.story_state import TERM_CHARS, StoryProfile, StoryTerm
from worker.store import record_change
from worker.stories.assigner import StoryConfig, count_article
from worker.stories.index import StoryDoc, StoryState, posting_terms, top_phrases
from worker.stories.partition import (
    Plan,
)
from worker.stories.refine_read import (
    ARTICLE_COLUMNS,
    DEFAULT_TERM_CHUNK,
    WindowRead,
    term_counts,
)
from worker.stories.sql_profiles import DEFAULT_KEYWORDS
from worker.stories.step import doc_of
from worker.stories.text import extract_terms, key_phrases
from worker.stories.vectors import Vector, top_terms, weigh

if TYPE_CHECKING:
    from worker.stories.refine import RefineReport

log = logging.getLogger(__name__)


def changed_since(session: Session, found: WindowRead) -> bool:
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


def apply_plan(
    session: Session, found: WindowRead, plan: Plan, report: RefineReport, story_config: StoryConfig
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
    session: Session, story_id: int, found: WindowRead, config: StoryConfig, *, new: bool
) -> None:
    """A story's row, profile and postings recomputed from its members as they are now."""
    rows = sorted(
        session.execute(select(*ARTICLE_COLUMNS).where(Article.story_id == story_id)).all(),
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
    n_docs, df = term_counts(session, set(terms.counts))
    return weigh(
        terms, n_docs, df, proper_weight=config.proper_weight, number_weight=config.number_weight
    )


def _most_common(values: Iterable[str | None]) -> str | None:
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else None
