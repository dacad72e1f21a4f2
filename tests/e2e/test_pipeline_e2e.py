"""End to end: real worker and beat processes ingest a local site into the database.

Once on the embedded defaults (SQLite database, SQLite broker, no server) and once on Redis +
Postgres. Each run checks the articles' text and metadata, that one article reachable from two
feeds is stored once, and that a second poll sends If-None-Match and stores nothing new.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from models import (
    Article,
    ArticleSource,
    Change,
    Feed,
    FeedFetch,
    FetchOutcome,
    make_engine,
    utcnow,
)
from tests.e2e.site import BOILERPLATE, STORIES, serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import Process, run_cli, storywire_env, wait_for
from tests.support.services import REPO_ROOT, RedisServer

pytestmark = pytest.mark.slow

BASE_ENV = {
    "STORYWIRE_ALLOW_PRIVATE_NETWORKS": "1",  # the site is on 127.0.0.1
    "STORYWIRE_DISPATCH_INTERVAL_S": "1",
    "STORYWIRE_HOST_RATE_PER_S": "50",
    "STORYWIRE_LOG_LEVEL": "INFO",
}


def server_env(tmp_path: Path, redis_server: RedisServer, pg_url: str) -> dict[str, str]:
    """Environment of storywire processes on Redis + Postgres, database migrated."""
    env = storywire_env(
        STORYWIRE_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=pg_url,
        REDIS_URL=redis_server.url,
        STORYWIRE_AUTO_MIGRATE="0",
        **BASE_ENV,
    )
    run_cli(["db", "upgrade"], env)
    return env


def _count(engine: Engine, stmt: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())  # type: ignore[call-overload]


def _polled_after(engine: Engine, mark: int) -> dict[int, str]:
    """Each feed's first request after fetch-log row ``mark``: feed id -> outcome."""
    skipped = (FetchOutcome.DEFERRED, FetchOutcome.OFFLINE)  # no request was made
    with engine.connect() as conn:
        rows = conn.execute(
            select(FeedFetch.feed_id, FeedFetch.outcome)
            .where(FeedFetch.id > mark, FeedFetch.outcome.not_in(skipped))
            .order_by(FeedFetch.id)
        ).all()
    first: dict[int, str] = {}
    for feed_id, outcome in rows:
        first.setdefault(feed_id, outcome)
    return first


def _ingest_and_check(engine: Engine, server: LocalHTTPServer, procs: tuple[Process, ...]) -> None:
    done = select(func.count()).select_from(Article).where(Article.status != "pending")
    wait_for(
        lambda: _count(engine, done) >= 4, timeout=240, what="4 processed articles", processes=procs
    )

    with engine.connect() as conn:
        articles = {a.url.split("/")[-1].split("?")[0]: a for a in conn.execute(select(Article))}
        sources = conn.execute(select(ArticleSource)).all()
    assert sorted(articles) == ["a1.html", "a2.html", "a3.html", "a4.html"]
    for story in STORIES:
        article = articles[f"{story.slug}.html"]
        assert article.status == "ok", (article.status, article.error)
        assert article.title == story.title
        assert article.authors == [story.author]
        assert article.published_at == story.published
        assert article.published_source in ("jsonld", "meta", "feed")
        for paragraph in story.paragraphs:
            assert paragraph in article.text
        for junk in BOILERPLATE:
            assert junk not in article.text
            assert "Subscribe" not in article.text
    shared = articles["a3.html"]
    assert sum(1 for s in sources if s.article_id == shared.id) == 2  # one row, two feeds

    # Every article gets its story, though a worker process sends a story task per countdown,
    # not per article (worker.pipeline.story.StoryWakeups).
    storyless = select(func.count()).select_from(Article).where(Article.story_id.is_(None))
    wait_for(lambda: _count(engine, storyless) == 0, timeout=120, what="stories", processes=procs)

    # Second poll: make both feeds due now, wait for each feed's next request. The fetch log
    # may hold more than one row per feed and poll (a busy machine can defer a poll on our own
    # per-host limit, or time one out), so the rows are read by feed, after a mark.
    mark = _count(engine, select(func.coalesce(func.max(FeedFetch.id), 0)))
    with engine.begin() as conn:
        conn.execute(update(Feed).values(next_check_at=utcnow()))
    wait_for(
        lambda: len(_polled_after(engine, mark)) == 2,
        timeout=180,
        what="second poll",
        processes=procs,
    )
    assert set(_polled_after(engine, mark).values()) == {FetchOutcome.NOT_MODIFIED}
    for feed in ("world", "local"):
        # (`feeds add` fetched each feed once too, to check it: the polls are the last two.)
        seen = server.requests_to(f"/feeds/{feed}.xml")
        assert len(seen) >= 2
        assert seen[-1].headers.get("if-none-match") == f'"{feed}-v1"'
    assert _count(engine, select(func.count()).select_from(Article)) == 4
    created = select(func.count()).select_from(Change).where(Change.kind == "article.created")
    assert _count(engine, created) == 4


def test_embedded_defaults(tmp_path: Path, http_server: LocalHTTPServer) -> None:
    feeds = serve_site(http_server)
    env = storywire_env(STORYWIRE_DATA_DIR=str(tmp_path / "data"), **BASE_ENV)
    run_cli(["feeds", "add", feeds["world"], feeds["local"]], env)
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'storywire.db'}")
    proc = Process(["run", "--concurrency", "2"], env, tmp_path / "run.log")
    try:
        _ingest_and_check(engine, http_server, (proc,))
    finally:
        proc.stop()
        engine.dispose()


def test_redis_and_postgres(
    tmp_path: Path,
    http_server: LocalHTTPServer,
    redis_server: RedisServer,
    pg_url: str,
) -> None:
    env = server_env(tmp_path, redis_server, pg_url)
    run_cli(["feeds", "add", *serve_site(http_server).values()], env)
    engine = make_engine(pg_url)
    worker = Process(["worker", "--concurrency", "2"], env, tmp_path / "worker.log")
    beat = Process(["beat"], env, tmp_path / "beat.log")
    try:
        _ingest_and_check(engine, http_server, (worker, beat))
    finally:
        beat.stop()
        worker.stop()
        engine.dispose()


def test_procfile_under_honcho(tmp_path: Path, http_server: LocalHTTPServer) -> None:
    """The Procfile's worker and beat, started by honcho, on the embedded defaults."""
    feeds = serve_site(http_server)
    bin_dir = str(Path(sys.executable).parent)  # where `storywire` and `honcho` live
    env = storywire_env(
        STORYWIRE_DATA_DIR=str(tmp_path / "data"),
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        **BASE_ENV,
    )
    run_cli(["db", "upgrade"], env)  # what the release phase does
    run_cli(["feeds", "add", feeds["world"], feeds["local"]], env)
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'storywire.db'}")
    honcho = Process(
        ["-f", str(REPO_ROOT / "Procfile"), "-d", str(REPO_ROOT), "start", "worker", "beat"],
        env,
        tmp_path / "honcho.log",
        program=[str(Path(bin_dir) / "honcho")],
    )
    try:
        _ingest_and_check(engine, http_server, (honcho,))
    finally:
        # honcho stops worker and beat itself (SIGKILL after its own 5 s): killed before it
        # has, it would leave them running, in sessions of their own.
        honcho.stop(timeout=120)
        engine.dispose()
