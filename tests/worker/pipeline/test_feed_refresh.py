"""refresh_feed against a real local HTTP server and a real SQLite database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from models import Article, ArticleSource, Change, Feed, FeedFetch, session_scope, utcnow
from tests.e2e.site import serve_site
from tests.support.httpserver import LocalHTTPServer
from worker.pipeline import refresh_feed
from worker.runtime import Runtime
from worker.store import add_feed


def _add(rt: Runtime, url: str) -> int:
    with session_scope(rt.sessions) as s:
        feed, _ = add_feed(s, url)
        return feed.id


def _refresh(rt: Runtime, feed_id: int):  # type: ignore[no-untyped-def]
    return refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id)


def test_new_entries_become_pending_articles_once(
    runtime: Runtime, http_server: LocalHTTPServer
) -> None:
    feeds = serve_site(http_server)
    feed_id = _add(runtime, feeds["world"])

    first = _refresh(runtime, feed_id)
    assert first.outcome == "ok"
    assert first.entries_seen == 3
    assert len(first.new_article_ids) == 3

    second = _refresh(runtime, feed_id)  # the server answers If-None-Match with 304
    assert second.outcome == "not_modified"
    assert second.new_article_ids == []
    assert http_server.requests_to("/feeds/world.xml")[1].headers["if-none-match"] == '"world-v1"'

    with session_scope(runtime.sessions) as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        assert feed.etag == '"world-v1"'
        assert feed.title == "World"
        assert feed.status == "active"
        assert feed.next_check_at > utcnow() + timedelta(seconds=60)
        assert s.scalar(select(func.count()).select_from(Article)) == 3
        assert {a.status for a in s.scalars(select(Article))} == {"pending"}
        outcomes = s.scalars(select(FeedFetch.outcome).order_by(FeedFetch.id)).all()
        assert outcomes == ["ok", "not_modified"]


def test_refetching_a_changed_feed_without_validators_adds_nothing(
    runtime: Runtime, http_server: LocalHTTPServer
) -> None:
    feeds = serve_site(http_server)
    http_server.routes["/feeds/world.xml"].headers.pop("ETag")  # type: ignore[union-attr]
    feed_id = _add(runtime, feeds["world"])
    assert len(_refresh(runtime, feed_id).new_article_ids) == 3
    again = _refresh(runtime, feed_id)
    assert again.outcome == "ok"
    assert again.new_article_ids == []


def test_article_linked_from_two_feeds_is_stored_once(
    runtime: Runtime, http_server: LocalHTTPServer
) -> None:
    feeds = serve_site(http_server)
    world, local = _add(runtime, feeds["world"]), _add(runtime, feeds["local"])
    assert len(_refresh(runtime, world).new_article_ids) == 3
    # The local feed links a3 with tracking parameters: same canonical URL, no new row.
    assert len(_refresh(runtime, local).new_article_ids) == 1
    with session_scope(runtime.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 4
        a3 = s.scalars(select(Article).where(Article.canonical_url.endswith("/a3.html"))).one()
        feeds_of_a3 = s.scalars(
            select(ArticleSource.feed_id).where(ArticleSource.article_id == a3.id)
        ).all()
        assert sorted(feeds_of_a3) == sorted([world, local])
        kinds = s.scalars(select(Change.kind)).all()
        assert kinds.count("article.created") == 4
        assert kinds.count("article.source_added") == 1


def test_server_error_is_recorded_and_backs_off(
    runtime: Runtime, http_server: LocalHTTPServer
) -> None:
    http_server.add("/broken.xml", "oops", status=500, content_type="text/plain")
    feed_id = _add(runtime, http_server.url("/broken.xml"))
    result = _refresh(runtime, feed_id)
    assert result.outcome == "error"
    with session_scope(runtime.sessions) as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        assert feed.status == "erroring"
        assert feed.consecutive_errors == 1
        assert feed.last_status_code == 500
        assert feed.last_error_class
        assert feed.next_check_at > utcnow()
        log = s.scalars(select(FeedFetch)).one()
        assert (log.outcome, log.status_code) == ("error", 500)


def test_gone_feed_is_never_polled_again(runtime: Runtime, http_server: LocalHTTPServer) -> None:
    http_server.add("/gone.xml", "gone", status=410, content_type="text/plain")
    feed_id = _add(runtime, http_server.url("/gone.xml"))
    assert _refresh(runtime, feed_id).outcome == "gone"
    assert _refresh(runtime, feed_id).outcome == "skipped"
    assert len(http_server.requests_to("/gone.xml")) == 1
    with session_scope(runtime.sessions) as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None and feed.status == "gone"
        assert s.scalars(select(Change.kind).where(Change.kind == "feed.gone")).one()


def test_html_page_instead_of_feed_is_an_error_not_articles(
    runtime: Runtime, http_server: LocalHTTPServer
) -> None:
    http_server.add("/page.html", "<html><body><h1>Welcome</h1><p>Hi.</p></body></html>")
    feed_id = _add(runtime, http_server.url("/page.html"))
    result = _refresh(runtime, feed_id)
    assert result.outcome == "error"
    assert result.error_class
    with session_scope(runtime.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 0
        feed = s.get(Feed, feed_id)
        assert feed is not None and feed.last_error


def test_entry_without_link_keeps_the_feeds_text(
    runtime: Runtime, http_server: LocalHTTPServer
) -> None:
    body = """<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
    <item><title>Linkless note</title><guid isPermaLink="false">note-1</guid>
    <description>Only the feed has this text about the ferry timetable.</description></item>
    </channel></rss>"""
    http_server.add("/notes.xml", body, content_type="application/rss+xml")
    feed_id = _add(runtime, http_server.url("/notes.xml"))
    first = _refresh(runtime, feed_id)
    assert len(first.new_article_ids) == 1
    assert _refresh(runtime, feed_id).new_article_ids == []  # stable key across polls
