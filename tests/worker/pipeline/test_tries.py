"""A try at a page is counted on the row, and committed, before the page is fetched (on SQLite,
then on Postgres: the ``rt`` fixture of tests/worker/conftest.py)."""

from __future__ import annotations

from sqlalchemy import update

from models import Article, ArticleStatus, session_scope
from tests.e2e.site import serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.worker.pipeline.conftest import ingest_feed
from worker.pipeline.tries import start_try
from worker.resources import Resources


def row(rt: Resources, article_id: int) -> Article:
    with session_scope(rt.sessions) as s:
        article = s.get(Article, article_id)
        assert article is not None
        return article


def test_a_try_is_counted_with_the_stub_read(rt: Resources, http_server: LocalHTTPServer) -> None:
    # (On Postgres one statement does both: the stub is read as it was before the count.)
    first, done = ingest_feed(rt, serve_site(http_server)["world"])[:2]
    before = row(rt, first).updated_at
    stub = start_try(rt.sessions, first)
    assert stub is not None and stub.unfinished_tries == 0
    assert stub.fields.title == row(rt, first).title and stub.url == row(rt, first).url
    again = start_try(rt.sessions, first)  # the first try never ended (its worker died)
    assert again is not None and again.unfinished_tries == 1
    assert row(rt, first).unfinished_tries == 2 and row(rt, first).updated_at > before

    # Not pending any more: no stub, and nothing counted.
    with session_scope(rt.sessions) as s:
        s.execute(update(Article).where(Article.id == done).values(status=ArticleStatus.OK))
    assert start_try(rt.sessions, done) is None
    assert row(rt, done).unfinished_tries == 0
