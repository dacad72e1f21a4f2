"""The story step on the database: ``assign_stories(session, article_ids)``.

Usage (inside the caller's transaction; it commits or rolls back everything together)::

    with session_scope(sessions) as session:
        result = assign_stories(session, [article_id])[0]   # None: nothing to assign
        result.story_id, result.duplicate_of, result.new_story, result.merged

    with session_scope(sessions) as session:     # several, in this order, in one transaction
        results = assign_stories(session, [first_id, second_id, third_id])

A batch gives exactly the assignments (and rows) that one transaction per article would: each
article sees what the ones before it wrote. On Postgres those writes are held back in memory
(``worker.stories.sql_writes``) and go out as one statement at the end, and the reads of the
batch answer from the database plus what is held back. The batch saves the round trips and the
per-statement work that a story step is mostly made of (figures in docs/stories.md).

It reads the article row, runs layers 2-4 (``worker.stories.assigner.assign``) against
``SqlStoryIndex`` — the same code path as the in-memory index, with its state in the tables of
``models/story_state.py`` — sets ``articles.story_id`` / ``duplicate_of``, creates or updates
the ``stories`` row, and writes the outbox rows ``story.created``, ``story.updated``,
``story.merged`` and ``article.updated`` in the same transaction.

Serialized: it takes the story-step lock first (a Postgres transaction-scoped advisory lock;
SQLite's ``BEGIN IMMEDIATE`` already serializes writers), so two workers never open two stories
for one event. Idempotent: an article that already has a story is left as it is, so a
redelivered task changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import bindparam, or_, select, text, update
from sqlalchemy.orm import Session

from models import Article, ArticleStatus, ChangeKind
from models.story_state import ArticleFeatures
from worker.stories.assigner import (
    ALREADY_ASSIGNED,
    DEFAULT_CONFIG,
    Assignment,
    Features,
    StoryConfig,
    assign,
    features,
)
from worker.stories.docs import DOC_COLUMNS, doc_of
from worker.stories.features_store import stored_features
from worker.stories.index import StoryDoc
from worker.stories.sql import REPORTED_AT, SqlStoryIndex, record_article

log = logging.getLogger(__name__)

#: Key of the Postgres advisory lock that serializes the story step (the same in every worker).
STORY_LOCK_KEY = 0x5707_1E5

# Statements built once (each build costs more Python than the cached compilation it hits).
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
# The articles, with the features their article task stored (``features_store``) if any.
_ARTICLES = (
    select(Article, ArticleFeatures.fingerprint, ArticleFeatures.data)
    .outerjoin(ArticleFeatures, ArticleFeatures.article_id == Article.id)
    .where(Article.id.in_(bindparam("ids", expanding=True)))
)
# Those of the articles waiting for a story (see ``waiting_docs``).
# (Not those whose article task stored their features: preparing them again is wasted work.)
_WAITING_DOCS = select(Article.id, *DOC_COLUMNS).where(
    Article.id.in_(bindparam("ids", expanding=True)),
    Article.story_id.is_(None),
    Article.duplicate_of.is_(None),
    Article.status != ArticleStatus.PENDING,
    ~select(ArticleFeatures.article_id)
    .where(ArticleFeatures.article_id == Article.id)
    .correlate(Article)
    .exists(),
)
_UNASSIGNED = (
    select(Article.id, REPORTED_AT)
    .where(
        Article.story_id.is_(None),
        Article.status != ArticleStatus.PENDING,
        # Failed alone before: it would fail every batch while among the oldest waiting.
        Article.story_error.is_(None),
    )
    .order_by(REPORTED_AT, Article.id)
    .limit(bindparam("limit"))
)


#: An article's story-step input and the features computed from it.
Prepared = tuple[StoryDoc, Features]


def lock_story_step(session: Session) -> None:
    """Hold the story-step lock until the session's transaction ends (Postgres only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK, {"key": STORY_LOCK_KEY})


def try_lock_story_step(session: Session) -> bool:
    """Take the story-step lock only if no other worker holds it; True when taken (held
    until the transaction ends). Without a lock to take (SQLite), True."""
    if session.get_bind().dialect.name == "postgresql":
        return bool(session.execute(_TRY_LOCK, {"key": STORY_LOCK_KEY}).scalar_one())
    return True


def assign_stories(
    session: Session,
    article_ids: Sequence[int],
    config: StoryConfig = DEFAULT_CONFIG,
    *,
    prepared: Mapping[int, Prepared] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> list[Assignment | None]:
    """Assign these extracted articles to stories, in the order given, in the caller's
    transaction; for each its ``Assignment``, or None when it is missing or not extracted yet.

    ``prepared``: features computed earlier with the same ``config`` (``prepare_features``),
    used for an article whose title, text and language are still the ones they were computed
    from; else those its article task stored (``worker.stories.features_store``), on the
    same condition.
    ``meanwhile``: work for this process while the batch's held-back writes run on the
    server (Postgres; elsewhere it simply runs at the end), e.g. preparing the next batch."""
    lock_story_step(session)
    # One read for the batch, stored features included; the dict also keeps the rows in the
    # session (it holds unmodified rows only weakly) until the batch ends.
    articles: dict[int, Article] = {}
    stored: dict[int, tuple[bytes, str]] = {}
    for article, stored_fingerprint, data in session.execute(_ARTICLES, {"ids": list(article_ids)}):
        articles[article.id] = article
        if data is not None:
            stored[article.id] = (stored_fingerprint, data)
    index = SqlStoryIndex(session)
    batch_reads = index.reads_ahead and len(articles) > 1
    ahead: dict[int, Prepared] = {}
    for article in articles.values():
        # Not those the story step has nothing to look up for: done, pending, or a copy the
        # text step marked (it joins its original's story).
        waiting = article.story_id is None and article.status != ArticleStatus.PENDING
        if waiting and article.duplicate_of is None:
            doc = doc_of(article)
            found = _still_valid(prepared.get(article.id) if prepared else None, doc)
            if found is None and article.id in stored:
                found = stored_features(doc, config, *stored[article.id])
            if found is None and batch_reads:
                found = features(doc, config, with_terms=True)
            if found is not None:
                ahead[article.id] = (doc, found)
    if stored:  # used or not (stale): deleted with the batch's writes
        index.forget_features(sorted(stored))
    if batch_reads:
        index.read_ahead([f for _, f in ahead.values()])
    results = []
    for position, article_id in enumerate(article_ids):
        index.articles_left = len(article_ids) - position
        results.append(
            _assign(index, articles.get(article_id), config, ahead.pop(article_id, None))
        )
    index.finish(meanwhile)
    return results


def prepare_features(
    docs: Iterable[StoryDoc], config: StoryConfig = DEFAULT_CONFIG
) -> dict[int, Prepared]:
    """The features ``assign_stories`` would compute for these articles (terms and key phrases
    included), by article id. Pure computation: run it anywhere, e.g. as ``meanwhile``.

    An article whose features fail is left out: under the lock its own step computes them
    again and fails there, where failures are recorded."""
    out: dict[int, Prepared] = {}
    for doc in docs:
        try:
            out[doc.id] = (doc, features(doc, config, with_terms=True, with_phrases=True))
        except Exception:  # left to the step itself, see above
            log.debug("features of article %s not prepared", doc.id, exc_info=True)
    return out


def waiting_docs(session: Session, article_ids: Sequence[int]) -> list[StoryDoc]:
    """The story-step input of those of these articles that wait for a story (extracted, no
    story, not marked a copy by the text step) and have no features stored by their article
    task (``worker.stories.features_store``), in the order given: what ``prepare_features``
    takes."""
    if not article_ids:
        return []
    rows = {r.id: r for r in session.execute(_WAITING_DOCS, {"ids": list(article_ids)})}
    return [doc_of(rows[i]) for i in article_ids if i in rows]


def _still_valid(prepared: Prepared | None, doc: StoryDoc) -> Features | None:
    # Features depend on the title, the text, the language and whether the text was extracted.
    if prepared is None:
        return None
    was, found = prepared
    same = (
        was.title == doc.title
        and was.text == doc.text
        and was.language == doc.language
        and was.extracted == doc.extracted
    )
    return found if same else None


def unassigned_articles(session: Session, limit: int, *, include: int | None = None) -> list[int]:
    """Up to ``limit`` extracted articles without a story, oldest report first, none whose
    story step failed before (``story_error``; ``include`` neither): those are assigned alone,
    so that they fail no batch. ``include`` (a task's own article), if still without a story,
    is always among them, in the place of the newest other if need be.

    Call it under the story-step lock (``lock_story_step``) and assign them in the same
    transaction, so two workers never take the same ones."""
    rows = [(r[0], r[1]) for r in session.execute(_UNASSIGNED, {"limit": limit})]
    if include is not None and all(article_id != include for article_id, _ in rows):
        found = session.execute(
            select(Article.id, REPORTED_AT).where(
                Article.id == include, Article.story_id.is_(None), Article.story_error.is_(None)
            )
        ).first()
        if found is not None:
            rows = [*rows[: max(limit - 1, 0)], (found[0], found[1])]
    rows.sort(key=lambda row: (row[1], row[0]))
    return [article_id for article_id, _ in rows]


def record_story_failure(session: Session, article_id: int, error: str) -> bool:
    """Count a failure of the article's story step and keep its ``error`` on the row; False
    when there is nothing to record it on (gone, or assigned meanwhile).

    Under the story-step lock: a worker assigning the article meanwhile commits first, so the
    error is never left on an article that has its story."""
    lock_story_step(session)
    done = session.execute(
        update(Article)
        .where(Article.id == article_id, Article.story_id.is_(None))
        .values(story_error=error, story_attempts=Article.story_attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(cast(Any, done).rowcount)


def reset_story_failures(session: Session, article_ids: Sequence[int] | None = None) -> int:
    """Forget the story step's failures of these articles without a story (None: all of them),
    so that batches and the sweeper take them again; how many were reset.

    ``updated_at`` is kept: the sweeper takes articles untouched for a while, and these have
    been waiting long enough."""
    failed = or_(Article.story_error.is_not(None), Article.story_attempts > 0)
    stmt = (
        update(Article)
        .where(Article.story_id.is_(None), failed)
        .values(story_error=None, story_attempts=0, updated_at=Article.updated_at)
        .execution_options(synchronize_session=False)
    )
    if article_ids is not None:
        stmt = stmt.where(Article.id.in_(list(article_ids)))
    return int(cast(Any, session.execute(stmt)).rowcount)


def _assign(
    index: SqlStoryIndex,
    article: Article | None,
    config: StoryConfig,
    ahead: tuple[StoryDoc, Features] | None = None,
) -> Assignment | None:
    if article is None or article.status == ArticleStatus.PENDING:
        return None
    if article.story_id is not None:  # already done (a redelivered task)
        return Assignment(article.story_id, article.duplicate_of, False, (), ALREADY_ASSIGNED, 0.0)
    if article.duplicate_of is not None:
        # An exact copy marked by the text-hash step: it joins its original's story.
        original = index.session.get(Article, article.duplicate_of)
        if original is not None and original.story_id is None:
            _assign(index, original, config)
        if original is not None and original.story_id is not None:
            result = index.join_copy(doc_of(article), original)
            _record(index, article, result)
            return result
    doc, found = ahead if ahead is not None else (doc_of(article), None)
    result = assign(index, doc, config, found)
    _record(index, article, result)
    return result


def _record(index: SqlStoryIndex, article: Article, result: Assignment) -> None:
    if result.new_story:
        index.record_change(ChangeKind.STORY_CREATED, result.story_id, article_id=article.id)
    else:
        index.record_change(
            ChangeKind.STORY_UPDATED, result.story_id, article_id=article.id, method=result.method
        )
    record_article(index, article.id, result.story_id, result.duplicate_of, result.method)
