"""The article task stores each article's story features with its page, on real HTTP and on
SQLite and Postgres; the story step uses them and deletes them (worker.stories.features_store)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from models import Article, ArticleStatus, session_scope
from models.story_state import ArticleFeatures
from tests.e2e.site import STORIES, rss, serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.worker.pipeline.conftest import ingest_feed
from tests.worker.stories.conftest import assert_same_features
from worker.pipeline import assign_story_step, process_article
from worker.pipeline.inline import run_inline
from worker.pipeline.story import story_config
from worker.resources import Resources
from worker.store import add_feed
from worker.stories import features_store
from worker.stories.assigner import features
from worker.stories.docs import doc_of
from worker.stories.features_store import stored_features


def stored(rt: Resources) -> dict[int, tuple[bytes, str]]:
    with session_scope(rt.sessions) as s:
        rows = s.execute(
            select(ArticleFeatures.article_id, ArticleFeatures.fingerprint, ArticleFeatures.data)
        )
        return {r[0]: (r[1], r[2]) for r in rows}


def assert_rows_are_the_articles_features(rt: Resources, ids: list[int]) -> None:
    """Each row is what the story step would compute from the article as stored."""
    rows = stored(rt)
    assert sorted(rows) == sorted(ids)
    config = story_config(rt.settings)
    with session_scope(rt.sessions) as s:
        for article in s.scalars(select(Article).where(Article.id.in_(ids))):
            doc = doc_of(article)
            found = stored_features(doc, config, *rows[article.id])
            assert found is not None, f"article {article.id}: its row does not match it"
            expected = features(doc, config, with_terms=True, with_phrases=True)
            assert_same_features(found, expected)


def test_a_stored_page_comes_with_its_story_features_until_its_story_step(
    rt: Resources, http_server: LocalHTTPServer
) -> None:
    ids = ingest_feed(rt, serve_site(http_server)["world"])
    for article_id in ids:
        outcome = process_article(rt.sessions, rt.fetcher, rt.settings, article_id)
        assert outcome.status == "ok"
    assert_rows_are_the_articles_features(rt, ids)

    # A second delivery of a task finds its article done and writes nothing.
    assert process_article(rt.sessions, rt.fetcher, rt.settings, ids[0]).status == "skipped"
    assert sorted(stored(rt)) == sorted(ids)

    config = story_config(rt.settings)
    outcome = assign_story_step(rt.sessions, ids[0], config, batch=32)
    assert outcome.story_id is not None
    assert stored(rt) == {}  # the batch took all three, and deleted their rows
    with session_scope(rt.sessions) as s:
        assert s.scalar(select(func.count()).where(Article.story_id.is_(None))) == 0


def test_a_failed_page_stores_the_features_of_what_its_feed_said(
    rt: Resources, http_server: LocalHTTPServer
) -> None:
    story = STORIES[0]
    http_server.add(
        "/f.xml",
        rss("F", [(story, http_server.url("/nowhere.html"))]),
        content_type="application/rss+xml",
    )
    [article_id] = ingest_feed(rt, http_server.url("/f.xml"))
    outcome = process_article(rt.sessions, rt.fetcher, rt.settings, article_id)
    assert outcome.status == "failed"
    # Its title and summary stay the feed's, its text is the feed's; not extracted.
    assert_rows_are_the_articles_features(rt, [article_id])
    with session_scope(rt.sessions) as s:
        article = s.get(Article, article_id)
        assert article is not None and article.status == ArticleStatus.FAILED
        assert not doc_of(article).extracted


def test_features_that_cannot_be_computed_do_not_fail_the_article(
    rt: Resources, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fault no real page is known to cause: features failing for the article task alone.
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("features broke")

    monkeypatch.setattr(features_store, "features", broken)
    ids = ingest_feed(rt, serve_site(http_server)["world"])
    for article_id in ids:
        assert process_article(rt.sessions, rt.fetcher, rt.settings, article_id).status == "ok"
    assert stored(rt) == {}
    # The story step computes them itself.
    outcome = assign_story_step(rt.sessions, ids[0], story_config(rt.settings), batch=32)
    assert outcome.story_id is not None


def test_an_inline_run_stores_and_uses_them(rt: Resources, http_server: LocalHTTPServer) -> None:
    urls = serve_site(http_server)
    with session_scope(rt.sessions) as s:
        feed_ids = [add_feed(s, urls[name])[0].id for name in ("world", "local")]
    written: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        # (On Postgres inside the statement that writes the article: worker.pipeline.article.)
        if "INSERT INTO article_features" in statement:
            written.append(statement)

    event.listen(rt.engine, "before_cursor_execute", seen)
    try:
        summary = run_inline(rt, feed_ids)
    finally:
        event.remove(rt.engine, "before_cursor_execute", seen)
    assert summary.articles_ok == 4
    assert len(written) == 4  # one per page ...
    assert stored(rt) == {}  # ... deleted by its story step
    with session_scope(rt.sessions) as s:
        assert s.scalar(select(func.count()).where(Article.story_id.is_(None))) == 0
