"""Runs end: heartbeats, runs whose process stopped beating, queued fetches whose work is done."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from models import (
    Article,
    ArticleStatus,
    Feed,
    FeedFetch,
    Run,
    RunKind,
    Story,
    session_scope,
    utcnow,
)
from tests.support.services import migrate
from tests.worker.pipeline.conftest import make_settings
from worker.resources import Resources, build_resources
from worker.runs import Heartbeat, close_runs, finish_if_done, start_run

LOST_AFTER = timedelta(minutes=5)


@pytest.fixture(params=["sqlite", "postgres"])
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Resources]:
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    migrate(url)
    runtime = build_resources(make_settings(tmp_path, url))
    yield runtime
    runtime.close()


def _run(rt: Resources, run_id: int) -> Run:
    with session_scope(rt.sessions) as s:
        run = s.get(Run, run_id)
        assert run is not None
        return run


def _age(rt: Resources, run_id: int, **values: object) -> None:
    with session_scope(rt.sessions) as s:
        s.execute(update(Run).where(Run.id == run_id).values(**values))


def test_runs_whose_heartbeat_stopped_are_lost(rt: Resources) -> None:
    killed = start_run(rt.sessions, RunKind.WORKER, beating=True)
    alive = start_run(rt.sessions, RunKind.WORKER, beating=True)
    inline = start_run(rt.sessions, RunKind.FETCH, args={"inline": True}, beating=True)
    old_version = start_run(rt.sessions, RunKind.WORKER)  # never beat (before heartbeats)
    young = start_run(rt.sessions, RunKind.WORKER)  # the same, but started a moment ago
    last_beat = utcnow() - timedelta(minutes=6)
    _age(rt, killed, heartbeat_at=last_beat)
    _age(rt, inline, heartbeat_at=last_beat)
    _age(rt, old_version, started_at=last_beat)

    closed = close_runs(rt.sessions, lost_after=LOST_AFTER)

    assert sorted(closed["lost"]) == sorted([killed, inline, old_version])
    for run_id in (killed, inline):
        run = _run(rt, run_id)
        assert run.status == "lost"
        assert run.finished_at == run.heartbeat_at  # its last sign of life
    assert _run(rt, old_version).finished_at == _run(rt, old_version).started_at
    assert _run(rt, alive).status == _run(rt, young).status == "running"
    assert close_runs(rt.sessions, lost_after=LOST_AFTER) == {"lost": [], "finished": []}


def test_a_closed_run_takes_no_more_beats(rt: Resources) -> None:
    run_id = start_run(rt.sessions, RunKind.WORKER, beating=True)
    _age(rt, run_id, status="finished", heartbeat_at=utcnow() - timedelta(hours=1))
    with Heartbeat(rt.settings.sqlalchemy_url, run_id, every_s=0.05):
        time.sleep(0.3)
    assert _run(rt, run_id).heartbeat_at < utcnow() - timedelta(minutes=59)  # type: ignore[operator]


def test_heartbeat_stamps_a_running_run(rt: Resources) -> None:
    run_id = start_run(rt.sessions, RunKind.WORKER, beating=True)
    stale = utcnow() - timedelta(hours=1)
    _age(rt, run_id, heartbeat_at=stale)
    with Heartbeat(rt.settings.sqlalchemy_url, run_id, every_s=0.05):
        deadline = time.monotonic() + 60
        while _run(rt, run_id).heartbeat_at == stale and time.monotonic() < deadline:
            time.sleep(0.05)
    assert _run(rt, run_id).heartbeat_at > stale  # type: ignore[operator]
    assert close_runs(rt.sessions, lost_after=LOST_AFTER)["lost"] == []


def _feed(rt: Resources, n: int, status: str = "active") -> int:
    with session_scope(rt.sessions) as s:
        feed = Feed(url=f"https://example.com/{n}.xml", host="example.com", status=status)
        s.add(feed)
        s.flush()
        return feed.id


def _fetched(rt: Resources, feed_id: int, outcome: str = "ok") -> None:
    with session_scope(rt.sessions) as s:
        s.add(FeedFetch(feed_id=feed_id, started_at=utcnow(), outcome=outcome))


def _article(rt: Resources, run_id: int, n: int, status: str = ArticleStatus.PENDING) -> int:
    with session_scope(rt.sessions) as s:
        article = Article(canonical_url=f"https://example.com/a{n}", url="u", status=status,
                          run_id=run_id)  # fmt: skip
        s.add(article)
        s.flush()
        return article.id


def _set(rt: Resources, article_id: int, **values: object) -> None:
    with session_scope(rt.sessions) as s:
        s.execute(update(Article).where(Article.id == article_id).values(**values))


def test_a_queued_fetch_finishes_once_its_work_is_done(rt: Resources) -> None:
    feeds = [_feed(rt, 1), _feed(rt, 2), _feed(rt, 3, status="gone")]
    run_id = start_run(rt.sessions, RunKind.FETCH, args={"feeds": feeds, "inline": False})
    assert _run(rt, run_id).heartbeat_at is None

    _fetched(rt, feeds[0])
    first = _article(rt, run_id, 1)
    second = _article(rt, run_id, 2)
    assert not finish_if_done(rt.sessions, run_id)  # a feed not refreshed, articles pending
    _fetched(rt, feeds[1], outcome="error")
    assert not finish_if_done(rt.sessions, run_id)  # articles still pending
    _set(rt, first, status=ArticleStatus.OK)
    _set(rt, second, status=ArticleStatus.FAILED, story_error="ValueError: bad data")
    assert not finish_if_done(rt.sessions, run_id)  # the first still waits for its story
    assert close_runs(rt.sessions, lost_after=LOST_AFTER) == {"lost": [], "finished": []}

    with session_scope(rt.sessions) as s:
        story = Story(headline="h")
        s.add(story)
        s.flush()
        story_id = story.id
    _set(rt, first, story_id=story_id)
    # The gone feed is skipped by its task: nothing to wait for. The sweeper finishes it.
    assert close_runs(rt.sessions, lost_after=LOST_AFTER) == {"lost": [], "finished": [run_id]}
    run = _run(rt, run_id)
    assert run.status == "finished" and run.finished_at is not None
    assert run.stats == {"feeds": 3, "feeds_failed": 1, "new_articles": 2, "articles_ok": 1,
                         "articles_failed": 1, "duplicates": 0}  # fmt: skip
    assert not finish_if_done(rt.sessions, run_id)  # once


def test_an_inline_fetch_is_finished_by_its_own_process(rt: Resources) -> None:
    run_id = start_run(rt.sessions, RunKind.FETCH, args={"feeds": [], "inline": True},
                       beating=True)  # fmt: skip
    assert not finish_if_done(rt.sessions, run_id)
    assert close_runs(rt.sessions, lost_after=LOST_AFTER) == {"lost": [], "finished": []}
    assert _run(rt, run_id).status == "running"


def test_a_process_forked_while_its_run_beats_can_use_the_database(
    tmp_path: Path, sqlite_url: str
) -> None:
    # The worker forks its pool processes while its run beats: a fork that caught the beat
    # inside SQLite left the child a copy of a mutex nobody would release (it hung for good).
    migrate(sqlite_url)
    rt = build_resources(make_settings(tmp_path, sqlite_url))
    run_id = start_run(rt.sessions, RunKind.WORKER, beating=True)
    rt.close()
    path = sqlite_url.removeprefix("sqlite:///")
    with Heartbeat(sqlite_url, run_id, every_s=0.002):  # beats nearly all the time
        for _ in range(40):
            pid = os.fork()
            if pid == 0:  # the child: one query, or SIGALRM kills it; never back to pytest
                code = 1
                try:
                    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # not pytest-timeout's
                    signal.alarm(30)
                    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
                        conn.execute("SELECT count(*) FROM runs").fetchone()
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                break
    assert not os.WIFSIGNALED(status), "a forked process hung on its first query"
    assert status == 0
