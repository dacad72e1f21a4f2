"""The story step's view of an article row: ``doc_of(row)``, a ``StoryDoc``.

Usage::

    doc = doc_of(article)                                   # an Article, or a row of these:
    session.execute(select(Article.id, *DOC_COLUMNS).where(...))
    doc = written_doc(article_id, values)     # the row an UPDATE with these values leaves

One place decides what the layers see of an article (the story step, the refinement and the
features an article task stores all read it here): its title, the text it was extracted
with or else the feed's summary, its date, language and outlet, and whether its text was
extracted (a failed or blocked page keeps what the feed said, which is not compared for
copies).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from models import Article, ArticleStatus
from worker.stories.index import StoryDoc
from worker.stories.sql import Dated, reported_at
from worker.urls import host_of

#: What ``doc_of`` reads of an article besides its id (the refinement reads them too).
DOC_COLUMNS = (
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


class _DocFields(Dated, Protocol):
    """What ``doc_of`` reads: an ``Article`` row object, or a row of ``DOC_COLUMNS``."""

    @property
    def id(self) -> int: ...

    @property
    def title(self) -> str | None: ...

    @property
    def text(self) -> str | None: ...

    @property
    def summary(self) -> str | None: ...

    @property
    def language(self) -> str | None: ...

    @property
    def site_name(self) -> str | None: ...

    @property
    def canonical_url(self) -> str: ...

    @property
    def status(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _Written:
    """An article row about to be written, as ``doc_of`` reads it (``written_doc``)."""

    id: int
    title: str | None
    text: str | None
    summary: str | None
    language: str | None
    status: str
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    discovered_at: datetime | None = None
    site_name: str | None = None
    canonical_url: str = ""


def doc_of(article: _DocFields) -> StoryDoc:
    """The story step's view of an article row (or a row of its columns)."""
    return StoryDoc(
        id=article.id,
        title=article.title,
        text=article.text or article.summary,
        published_at=reported_at(article),
        language=article.language,
        outlet=article.site_name or host_of(article.canonical_url) or None,
        # A failed or blocked page keeps what the feed said: not compared for copies.
        extracted=article.status == ArticleStatus.OK and bool(article.text),
    )


def written_doc(article_id: int, columns: Mapping[str, Any]) -> StoryDoc:
    """``doc_of`` the row an article's final write leaves: ``columns`` holds its ``title``,
    ``text``, ``summary``, ``language`` and ``status`` as written (a missing one is NULL).
    Its date and outlet are left out (None): what an article's features depend on is not."""
    return doc_of(
        _Written(
            id=article_id,
            title=columns.get("title"),
            text=columns.get("text"),
            summary=columns.get("summary"),
            language=columns.get("language"),
            status=columns["status"],
        )
    )
