"""An article's tries at its page: counted on the row before the risky work, cleared after.

Usage::

    from worker.pipeline.tries import count_attempt, end_try, start_try

    stub = start_try(sessions, article_id)   # None: not pending any more
    ...                                      # fetch and extract: may kill the worker
    end_try(sessions, article_id)            # a try that cost no attempt (deferred)
    attempts = count_attempt(sessions, article_id, error)   # a transient failure

A try is counted (``articles.unfinished_tries``) and committed before its page is fetched, so a
try that kills its worker (out of memory, hard time limit) is counted too; the article step
gives up after ``Settings.max_unfinished_tries`` of them in a row (:class:`Unfinished`).
Attempts (``articles.attempts``) count the tries that ended in a transient failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from models import Article, ArticleSource, ArticleStatus, ErrorClass, session_scope, utcnow
from worker.fetch import FetchError
from worker.pipeline.columns import StubFields
from worker.text.normalize import html_to_lines

#: Longest ``articles.error`` kept.
DEFAULT_ERROR_CHARS = 2000

# What the article step reads of a pending article before fetching it: the row's feed fields
# and its first source's content (the fallback text), in one statement.
_FIRST_SOURCE = (
    select(func.min(ArticleSource.id))
    .where(ArticleSource.article_id == Article.id)
    .correlate(Article)
    .scalar_subquery()
)
# The oldest entry date the article's feed ever gave (one indexed lookup on
# article_sources(feed_id, published_at)): a page date before it is not believed.
_FEED_ENTRY = aliased(ArticleSource)
_FIRST_ENTRY_AT = (
    select(func.min(_FEED_ENTRY.published_at))
    .where(_FEED_ENTRY.feed_id == Article.feed_id)
    .correlate(Article)
    .scalar_subquery()
)
_STUB_OF = select(
    Article.url,
    Article.status,
    Article.title,
    Article.authors,
    Article.summary,
    Article.published_at,
    Article.published_source,
    Article.modified_at,
    Article.modified_source,
    Article.run_id,
    Article.task_id,
    Article.date_error,
    Article.unfinished_tries,
    Article.error_class,
    ArticleSource.content,
    ArticleSource.summary.label("source_summary"),
    _FIRST_ENTRY_AT.label("first_entry_at"),
).outerjoin(ArticleSource, ArticleSource.id == _FIRST_SOURCE)
_STUB = _STUB_OF.where(Article.id == bindparam("id"))


@dataclass
class Stub:
    """What the feed said, read in one statement before the page is fetched: its fields
    are merged with the page's (and stay as they are while the article is pending)."""

    url: str
    fields: StubFields
    run_id: int | None
    task_id: str | None
    source_content: str | None  # the first feed entry's own HTML and summary
    source_summary: str | None
    unfinished_tries: int = 0  # tries before this one that never ended
    last_error_class: str | None = None

    @property
    def feed_text(self) -> str | None:
        """Plain text the feed carried: the fallback when the page gives none."""
        text = html_to_lines(self.source_content) if self.source_content else None
        return text or self.source_summary


class Unfinished(Exception):
    """The last tries of a page never ended: it is failed rather than tried again forever."""

    def __init__(self, tries: int, last_error_class: str | None) -> None:
        timed_out = last_error_class == ErrorClass.TIME_LIMIT
        cause = (
            "the last one ran past the task's time limit"
            if timed_out
            else "the worker process died during each (out of memory, or its hard time limit)"
        )
        super().__init__(f"given up after {tries} tries that never finished: {cause}")
        self.error_class = ErrorClass.TIME_LIMIT if timed_out else ErrorClass.WORKER_LOST


# Built once (an ORM update built per call cost more Python than its round trip).
_ARTICLES = cast(Table, Article.__table__)
_THIS_ARTICLE = _ARTICLES.c.id == bindparam("_article_id")
_COUNT_TRY = (
    update(_ARTICLES).where(_THIS_ARTICLE).values(unfinished_tries=_ARTICLES.c.unfinished_tries + 1)
)
_CLEAR_TRY = update(_ARTICLES).where(_THIS_ARTICLE).values(unfinished_tries=0)
# Postgres: the try counted and the stub read in one statement. The select's snapshot is from
# before the update, so it reads the tries before this one, as the two statements did; the
# update names updated_at (one inside a WITH gets no ``onupdate`` value).
_COUNTED = (
    update(_ARTICLES)
    .where(_THIS_ARTICLE, _ARTICLES.c.status == ArticleStatus.PENDING)
    .values(
        unfinished_tries=_ARTICLES.c.unfinished_tries + 1,
        updated_at=bindparam("now", type_=_ARTICLES.c.updated_at.type),
    )
    .returning(_ARTICLES.c.id)
    .cte("counted")
)
# (No parameter named as a column of articles: an UPDATE takes those as values to set.)
_STUB_COUNTED = _STUB_OF.where(Article.id.in_(select(_COUNTED.c.id))).add_cte(_COUNTED)


def start_try(sessions: sessionmaker[Session], article_id: int) -> Stub | None:
    """The pending article's stub (its feed's fields, in one statement), with its try counted
    and committed before any risky work; ``None`` if it is not pending any more."""
    with session_scope(sessions) as session:
        if session.get_bind().dialect.name == "postgresql":
            counted = {"_article_id": article_id, "now": utcnow()}
            row = session.execute(_STUB_COUNTED, counted).first()
            if row is None:  # not pending: nothing counted
                return None
        else:
            row = session.execute(_STUB, {"id": article_id}).first()
            if row is None or row.status != ArticleStatus.PENDING:
                return None
            session.execute(_COUNT_TRY, {"_article_id": article_id})
    fields = StubFields(
        title=row.title,
        summary=row.summary,
        authors=list(row.authors or []),
        published=(row.published_at, row.published_source),
        modified=(row.modified_at, row.modified_source),
        first_entry_at=row.first_entry_at,
        date_error=row.date_error,
    )
    return Stub(
        url=row.url,
        fields=fields,
        run_id=row.run_id,
        task_id=row.task_id,
        source_content=row.content,
        source_summary=row.source_summary,
        unfinished_tries=row.unfinished_tries,
        last_error_class=row.error_class,
    )


def end_try(sessions: sessionmaker[Session], article_id: int) -> None:
    """Clear the try counted by :func:`start_try`: it ended, and cost the page nothing."""
    with session_scope(sessions) as session:
        session.execute(_CLEAR_TRY, {"_article_id": article_id})


def count_attempt(sessions: sessionmaker[Session], article_id: int, error: FetchError) -> int:
    """Record a try that ended in a transient failure; the attempts made so far."""
    with session_scope(sessions) as session:
        article = _locked(session, article_id)
        assert article is not None
        article.attempts += 1
        article.unfinished_tries = 0
        article.error_class = error.error_class
        article.error = str(error)[:DEFAULT_ERROR_CHARS]
        article.http_status = error.status_code
        return article.attempts


def note_time_limit(sessions: sessionmaker[Session], article_id: int, limit_s: float) -> None:
    """Record on a pending article that its try ran past the soft time limit (the try stays
    counted as unfinished: the task retries it, and gives up once the limit is reached)."""
    with session_scope(sessions) as session:
        article = _locked(session, article_id)
        if article is not None and article.status == ArticleStatus.PENDING:
            article.error_class = ErrorClass.TIME_LIMIT
            article.error = f"fetching and extracting the page took longer than {limit_s:g} s"


def _locked(session: Session, article_id: int) -> Article | None:
    """The article, row-locked until the transaction ends."""
    # Row lock (Postgres; SQLite's BEGIN IMMEDIATE already serializes writers): two
    # deliveries of one task that finish together write one result, the other sees it done.
    return session.get(Article, article_id, with_for_update=True)
