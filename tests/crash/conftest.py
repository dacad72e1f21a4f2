"""Fixtures and helpers of the crash-safety tests (real processes, Redis, PostgreSQL).

Everything here is ``slow``: the tests start real workers and servers. They still run in CI.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from celery import Celery
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from models import Article, ArticleSource, ArticleStatus, Change, make_engine
from tests.crash.site import serve_articles
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import Process, run_cli, storywire_env
from tests.support.services import migrate
from tests.worker.pipeline.conftest import make_settings
from worker.resources import Resources, build_resources


@pytest.fixture(params=["sqlite", "postgres"])
def any_resources(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Resources]:
    """Resources on a migrated database of each dialect in turn."""
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    migrate(url)
    rt = build_resources(make_settings(tmp_path, url))
    yield rt
    rt.close()


def flush_broker(redis_url: str) -> None:
    """Empty the session's shared Redis (queues, unacked messages, rate-limit slots)."""
    with contextlib.suppress(redis.RedisError), redis.Redis.from_url(redis_url) as client:
        client.flushall()


def change_counts(engine: Engine, kind: str) -> tuple[int, int]:
    """(rows, distinct entities) of the change kind ``kind``."""
    with engine.connect() as conn:
        rows, distinct = conn.execute(
            select(func.count(), func.count(func.distinct(Change.entity_id))).where(
                Change.kind == kind
            )
        ).one()
    return int(rows), int(distinct)


def status_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(Article.status, func.count()).group_by(Article.status)).all()
    return {str(status): int(count) for status, count in rows}


# --- a real ingest on Redis + PostgreSQL ----------------------------------------------------


@dataclass
class Ingest:
    """Worker + beat processes ingesting the synthetic site, and the checks that follow.

    The test drives failures (kills, server restarts) between :meth:`start_worker` and
    :meth:`finish`; ``finish`` keeps a worker running, asks for sweeps like beat would, and
    waits until every article is processed.
    """

    tmp_path: Path
    env: dict[str, str]
    engine: Engine
    redis_url: str
    articles: int
    feeds: int
    worker: Process | None = None
    beat: Process | None = None
    starts: int = 0
    log: list[str] = field(default_factory=list)
    _client: Celery | None = None

    @classmethod
    def prepare(
        cls,
        tmp_path: Path,
        server: LocalHTTPServer,
        redis_url: str,
        pg_url: str,
        *,
        feeds: int = 6,
        per_feed: int = 50,
    ) -> Ingest:
        feed_urls, _ = serve_articles(server, feeds=feeds, per_feed=per_feed)
        flush_broker(redis_url)  # nothing queued by an earlier test may leak into this one
        env = storywire_env(
            STORYWIRE_DATA_DIR=str(tmp_path / "data"),
            DATABASE_URL=pg_url,
            REDIS_URL=redis_url,
            STORYWIRE_AUTO_MIGRATE="0",
            STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
            STORYWIRE_DISPATCH_INTERVAL_S="1",
            STORYWIRE_HOST_RATE_PER_S="1000",
            # Recovery of lost work within the test's time: a lost feed task is re-dispatched
            # after 4 s, a stub pending for 3 s is re-enqueued by the sweeper.
            STORYWIRE_DISPATCH_LEASE_S="4",
            STORYWIRE_STALE_PENDING_AFTER_S="3",
            STORYWIRE_SWEEP_INTERVAL_S="2",
            # Such quick re-enqueues run copies of one article at once, and each copy, like
            # each try a kill cut short, counts as unfinished until one ends: at the default
            # limit of 3 a busy machine could give a page up. These tests check exactly-once;
            # the poison-page rule has its own (tests/crash/test_poison_pages.py).
            STORYWIRE_MAX_UNFINISHED_TRIES="20",
            STORYWIRE_LOG_LEVEL="INFO",
        )
        run_cli(["db", "upgrade"], env)
        run_cli(["feeds", "add", *feed_urls], env)
        return cls(tmp_path, env, make_engine(pg_url), redis_url, feeds * per_feed, feeds)

    # --- processes ---------------------------------------------------------------------

    def start_beat(self) -> None:
        self.beat = Process(["beat"], self.env, self.tmp_path / "beat.log")

    def start_worker(self) -> Process:
        self.starts += 1
        self.worker = Process(
            ["worker", "--concurrency", "2"], self.env, self.tmp_path / f"worker-{self.starts}.log"
        )
        return self.worker

    def kill_worker(self) -> None:
        """SIGKILL the whole worker: main process and pool children, no clean-up at all."""
        assert self.worker is not None
        os.killpg(self.worker.popen.pid, signal.SIGKILL)
        self.worker.popen.wait(10)
        self.worker.stop()  # closes the log
        self.log.append(f"killed worker #{self.starts} at {self.progress()} processed")

    def stop(self) -> None:
        for process in (self.worker, self.beat):
            if process is not None:
                process.stop()
        if self._client is not None:
            self._client.close()
        self.engine.dispose()
        flush_broker(self.redis_url)  # leave no queued task to the next test

    # --- progress ------------------------------------------------------------------------

    def progress(self) -> int:
        """Articles through the whole pipeline: extracted and in a story (0 while the
        database is unreachable)."""
        try:
            with self.engine.connect() as conn:
                return int(
                    conn.execute(
                        select(func.count())
                        .select_from(Article)
                        .where(
                            Article.status != ArticleStatus.PENDING,
                            Article.story_id.is_not(None),
                        )
                    ).scalar_one()
                )
        except OperationalError:
            return 0

    def wait_progress(self, at_least: int, timeout: float = 300, *, sweep: bool = False) -> None:
        """Wait until ``at_least`` articles are processed; ``sweep``: ask for sweeps meanwhile."""
        assert at_least <= self.articles, f"waiting for {at_least} of {self.articles} articles"
        deadline = time.monotonic() + timeout
        next_sweep = 0.0
        while self.progress() < at_least:
            for process in (self.worker, self.beat):
                if process is not None and not process.alive():
                    raise AssertionError(f"a process died:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {self.progress()}/{at_least} processed after {timeout}s "
                    f"({'; '.join(self.log)})\n{self.logs()}"
                )
            if sweep and time.monotonic() >= next_sweep:
                self.request_sweep()
                next_sweep = time.monotonic() + 2
            time.sleep(0.1)

    def request_sweep(self) -> None:
        """Send the sweep task, as beat does every STORYWIRE_SWEEP_INTERVAL_S.

        The test asks for it itself, so it does not depend on where beat's schedule
        comes from; the worker runs it like any other task.
        """
        if self._client is None:
            self._client = Celery("crash-test", broker=self.redis_url)
        with contextlib.suppress(Exception):  # the broker may be restarting right now
            self._client.send_task("worker.tasks.sweep", queue="feeds")

    def finish(self, timeout: float = 300) -> None:
        """Keep a worker running until every article is processed, sweeping meanwhile."""
        if self.worker is None or not self.worker.alive():
            self.start_worker()
        self.wait_progress(self.articles, timeout, sweep=True)

    def logs(self) -> str:
        return "\n\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.tmp_path.glob("*.log"))
        )

    # --- the checks ----------------------------------------------------------------------

    def check_exactly_once(self) -> None:
        """Every article stored once, none pending, one outbox row per fact."""
        with self.engine.connect() as conn:
            urls = conn.execute(select(Article.canonical_url)).scalars().all()
            sources = conn.execute(select(func.count()).select_from(ArticleSource)).scalar_one()
            texts_ok = conn.execute(
                select(func.count()).select_from(Article).where(Article.text.like("%(report %.3)."))
            ).scalar_one()
        assert len(urls) == self.articles, "articles missing or duplicated"
        assert len(set(urls)) == self.articles
        assert status_counts(self.engine) == {"ok": self.articles}
        assert texts_ok == self.articles  # the page's own text, to its last paragraph
        assert sources == self.articles  # one feed entry per article, recorded once
        assert change_counts(self.engine, "feed.created") == (self.feeds, self.feeds)
        assert change_counts(self.engine, "article.created") == (self.articles, self.articles)
        # article.updated twice per article: its extraction result, then its story.
        with self.engine.connect() as conn:
            updates = conn.execute(
                select(Change.entity_id, Change.payload).where(Change.kind == "article.updated")
            ).all()
        extracted = [e for e, p in updates if "status" in p]
        storied = [e for e, p in updates if "story_id" in p]
        assert len(extracted) == len(set(extracted)) == self.articles
        assert len(storied) == len(set(storied)) == self.articles
        assert len(updates) == 2 * self.articles
