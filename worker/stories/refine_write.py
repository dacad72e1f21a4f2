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
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from models import Article, ChangeKind, Story, StoryMethod
from models.story_state import TERM_CHARS, StoryProfile, StoryTerm
from worker.store import record_change
from worker.stories.assigner import StoryConfig, count_article
from worker.stories.docs import doc_of
from worker.stories.index import StoryDoc, StoryState, posting_terms, top_phrases
from worker.stories.partition import (
    Plan,
)
from worker.stories.refine_read import (
    ARTICLE_COLUMNS,
    DEFAULT_ID_CHUNK,
    ArticleRow,
    WindowRead,
)
from worker.stories.sql import reported_at
from worker.stories.sql_profiles import DEFAULT_KEYWORDS
from worker.stories.sql_terms import read_term_counts
from worker.stories.terms import extract_terms, key_phrases
from worker.stories.vectors import Vector, top_terms, weigh

if TYPE_CHECKING:
    from worker.stories.refine import RefineReport

log = logging.getLogger(__name__)

_ARTICLES = cast(Table, Article.__table__)
_STORIES = cast(Table, Story.__table__)


def changed_since(session: Session, found: WindowRead) -> bool:
    """Whether an article of the window changed story, or a story of it was merged."""
    ids = sorted(found.members)
    for start in range(0, len(ids), DEFAULT_ID_CHUNK):
        chunk = ids[start : start + DEFAULT_ID_CHUNK]
        for article_id, story_id in session.execute(
            select(Article.id, Article.story_id).where(Article.id.in_(chunk))
        ):
            if found.members.get(article_id) != story_id:
                return True
    stories = sorted(found.stories)
    for start in range(0, len(stories), DEFAULT_ID_CHUNK):
        chunk = stories[start : start + DEFAULT_ID_CHUNK]
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
    connection = session.connection()
    if moved:
        connection.execute(
            update(_ARTICLES)
            .where(_ARTICLES.c.id == bindparam("b_id"))
            .values(story_id=bindparam("b_story")),
            [{"b_id": a, "b_story": moved[a]} for a in sorted(moved)],
        )
    touched = {found.members[a] for a in moved} | set(moved.values())
    merged = {gone: resolve(target) for gone, target in sorted(plan.merged.items())}
    if merged:
        pairs = [{"b_gone": gone, "b_survivor": survivor} for gone, survivor in merged.items()]
        # Stories merged into a story merged now point at its survivor directly.
        connection.execute(
            update(_STORIES)
            .where(_STORIES.c.merged_into == bindparam("b_gone"))
            .values(merged_into=bindparam("b_survivor")),
            pairs,
        )
        connection.execute(
            update(_STORIES)
            .where(_STORIES.c.id == bindparam("b_gone"))
            .values(merged_into=bindparam("b_survivor")),
            pairs,
        )
        _delete_postings(session, sorted(merged))
    left = Counter(found.members.values())
    for gone, survivor in merged.items():
        record_change(
            session, ChangeKind.STORY_MERGED, gone, merged_into=survivor, articles=left[gone]
        )
    arrived = Counter(moved.values())
    for key, story_id in created.items():
        record_change(
            session,
            ChangeKind.STORY_SPLIT,
            story_id,
            split_from=plan.splits[key],
            articles=arrived[story_id],
        )
    rebuilt = sorted(touched - set(merged))
    _rebuild(session, rebuilt, found, story_config, new=set(created.values()))
    for story_id in rebuilt:
        if story_id not in created.values():
            record_change(session, ChangeKind.STORY_UPDATED, story_id, method=StoryMethod.REFINE)
    for article_id in sorted(moved):
        record_change(
            session,
            ChangeKind.ARTICLE_UPDATED,
            article_id,
            story_id=moved[article_id],
            method=StoryMethod.REFINE,
        )
    report.moved = len(moved)
    report.split = len(created)
    report.merged = len(plan.merged)


def _rebuild(
    session: Session, story_ids: list[int], found: WindowRead, config: StoryConfig, *, new: set[int]
) -> None:
    """The stories' rows, profiles and postings recomputed from their members as they are now
    (``new``: stories just created, whose headline and language are set too)."""
    members: dict[int, list[ArticleRow]] = defaultdict(list)
    for start in range(0, len(story_ids), DEFAULT_ID_CHUNK):
        chunk = story_ids[start : start + DEFAULT_ID_CHUNK]
        for row in session.execute(
            select(*ARTICLE_COLUMNS).where(Article.story_id.in_(chunk)).order_by(Article.id)
        ):
            members[row.story_id].append(row)  # type: ignore[arg-type]
    profiles = {
        p.story_id: p
        for start in range(0, len(story_ids), DEFAULT_ID_CHUNK)
        for p in session.scalars(
            select(StoryProfile).where(
                StoryProfile.story_id.in_(story_ids[start : start + DEFAULT_ID_CHUNK])
            )
        )
    }
    _delete_postings(session, story_ids)
    postings: list[dict[str, object]] = []
    updates: dict[bool, list[dict[str, object]]] = {False: [], True: []}
    for story_id in story_ids:
        rows = members[story_id]
        values, centroid, phrases, outlets = _state(session, rows, found, config)
        if story_id in new:
            earliest = min(rows, key=lambda r: (reported_at(r) is None, reported_at(r), r.id))
            values["b_headline"] = earliest.title
            values["b_language"] = _most_common(r.language for r in rows)
        updates[story_id in new].append({"b_id": story_id, **values})
        profile = profiles.get(story_id)
        if profile is None:
            profile = StoryProfile(story_id=story_id)
            session.add(profile)
        profile.centroid = centroid
        profile.phrases = phrases
        profile.outlets = outlets
        seen: set[str] = set()
        for term, weight in posting_terms(centroid).items():
            if term[:TERM_CHARS] not in seen:  # two long terms may share their stored form
                seen.add(term[:TERM_CHARS])
                postings.append({"story_id": story_id, "term": term[:TERM_CHARS], "weight": weight})
    columns = ("first_published_at", "last_published_at", "article_count", "outlet_count")
    for is_new, rows_of in updates.items():
        if not rows_of:
            continue
        names = (*columns, "keywords", *(("headline", "language") if is_new else ()))
        session.connection().execute(
            update(_STORIES)
            .where(_STORIES.c.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}") for name in names}),
            rows_of,
        )
    if postings:
        session.connection().execute(insert(StoryTerm), postings)


def _state(
    session: Session, rows: list[ArticleRow], found: WindowRead, config: StoryConfig
) -> tuple[dict[str, object], Vector, dict[str, int], list[str]]:
    """A story's row values (as ``b_*`` parameters), centroid, phrases and outlets."""
    member_ids = {r.id for r in rows}
    state = StoryState(0, {}, None, None)
    total: Vector = {}
    outlets: set[str] = set()
    for row in rows:
        doc = doc_of(row)
        copy = row.duplicate_of is not None and row.duplicate_of in member_ids
        count_article(state, doc, [] if copy else _phrases(doc))
        if doc.outlet:
            outlets.add(doc.outlet)
        if not copy:
            vec = found.vector(row.id) or _vector(session, doc, config)
            for term, weight in vec.items():
                total[term] = total.get(term, 0.0) + weight
    values: dict[str, object] = {
        "b_first_published_at": state.first_published_at,
        "b_last_published_at": state.last_published_at,
        "b_article_count": state.article_count,
        "b_outlet_count": len(outlets),
        "b_keywords": top_phrases(state.phrases, DEFAULT_KEYWORDS),
    }
    return values, top_terms(total, config.centroid_terms), dict(state.phrases), sorted(outlets)


def _delete_postings(session: Session, story_ids: list[int]) -> None:
    for start in range(0, len(story_ids), DEFAULT_ID_CHUNK):
        chunk = story_ids[start : start + DEFAULT_ID_CHUNK]
        session.execute(delete(StoryTerm).where(StoryTerm.story_id.in_(chunk)))


def _phrases(doc: StoryDoc) -> list[str]:
    return key_phrases(f"{doc.title or ''}.\n{doc.text or ''}", limit=10, language=doc.language)


def _vector(session: Session, doc: StoryDoc, config: StoryConfig) -> Vector:
    terms = extract_terms(doc.title, doc.text, doc.language, title_weight=config.title_weight)
    n_docs, df = read_term_counts(session, terms.counts)
    return weigh(
        terms, n_docs, df, proper_weight=config.proper_weight, number_weight=config.number_weight
    )


def _most_common(values: Iterable[str | None]) -> str | None:
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else None
