"""Article retention: old articles go (with an article.deleted change each), new ones stay,
what hangs off a deleted article goes with it, a copy of it keeps its row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from models import (
    Article,
    ArticleSource,
    Change,
    make_engine,
    session_factory,
    session_scope,
    utcnow,
)
from tests.support.services import migrate
from worker.pipeline.retention import prune_articles
from worker.store import SourceFields, add_feed, upsert_article_stub


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_prune_articles(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        feed, _ = add_feed(session, "https://news.example/rss")
        ids = [
            upsert_article_stub(
                session,
                feed_id=feed.id,
                canonical_url=f"https://news.example/{n}",
                url=f"https://news.example/{n}",
                source=SourceFields(title=f"story {n}"),
            )[0]
            for n in range(7)
        ]
    old, new = ids[:5], ids[5:]
    with session_scope(sessions) as session:
        session.execute(
            update(Article)
            .where(Article.id.in_(old))
            .values(discovered_at=utcnow() - timedelta(days=40))
        )
        # A recent copy of an old article: it stays, no longer pointing at a deleted row.
        session.execute(update(Article).where(Article.id == new[0]).values(duplicate_of=old[0]))

    assert prune_articles(sessions, timedelta(days=30), batch=2) == 5
    assert prune_articles(sessions, timedelta(days=30)) == 0
    with session_scope(sessions) as session:
        assert sorted(session.scalars(select(Article.id))) == new
        assert session.get(Article, new[0]).duplicate_of is None  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(ArticleSource)) == 2
        deleted = session.execute(
            select(Change.entity_id, Change.payload).where(Change.kind == "article.deleted")
        ).all()
    assert sorted(e for e, _ in deleted) == old
    assert {p["canonical_url"] for _, p in deleted} == {
        f"https://news.example/{n}" for n in range(5)
    }
    engine.dispose()
