"""Runs end: runs whose process stopped beating are lost, queued fetches whose work is done
finish."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from models import (
    Article,
    ArticleStatus,
    Feed,
    FeedFetch,
    RunKind,
    Story,
    session_scope,
    utcnow,
)
from tests.worker.conftest import run_row, set_run
from worker.resources import Resources
from worker.runs import close_runs, finish_if_done, start_run

LOST_AFTER = timedelta(minutes=5)


def test_runs_whose_heartbeat_stopped_are_lost(rt: Resources) -> None:
    killed = start_run(rt.sessions, RunKind.WORKER, beating=True)
    alive = start_run(rt.sessions, RunKind.WORKER, beating=True)
    inline = start_run(rt.sessions, RunKind.FETCH, args={"inline": True}, beating=True)
    old_version = start_run(rt.sessions, RunKind.WORKER)  # never beat (before heartbeats)
    young = start_run(rt.sessions, RunKind.WORKER)  # the same, but started a moment ago
    last_beat = utcnow() - timedelta(minutes=6)
    set_run(rt, killed, heartbeat_at=last_beat)
    set_run(rt, inline, heartbeat_at=last_beat)
    set_run(rt, old_version, started_at=last_beat)

    closed = close_runs(rt.sessions, lost_after=LOST_AFTER)

    assert sorted(closed["lost"]) == sorted([killed, inline, old_version])
    for run_id in (killed, inline):
        run = run_row(rt, run_id)
        assert run.status == "lost"
        assert run.finished_at == run.heartbeat_at  # its last sign of life
    assert run_row(rt, old_version).finished_at == run_row(rt, old_version).started_at
    assert run_row(rt, alive).status == run_row(rt, young).status == "running"
    assert close_runs(rt.sessions, lost_after=LOST_AFTER) == {"lost": [], "finished": []}


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
    assert run_row(rt, run_id).heartbeat_at is None

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
    run = run_row(rt, run_id)
    assert run.status == "finished" and run.finished_at is not None
    assert run.stats == {"feeds": 3, "feeds_failed": 1, "new_articles": 2, "articles_ok": 1,
                         "articles_failed": 1, "duplicates": 0}  # fmt: skip
    assert not finish_if_done(rt.sessions, run_id)  # once


def test_an_inline_fetch_is_finished_by_its_own_process(rt: Resources) -> None:
    run_id = start_run(rt.sessions, RunKind.FETCH, args={"feeds": [], "inline": True},
                       beating=True)  # fmt: skip
    assert not finish_if_done(rt.sessions, run_id)
    assert close_runs(rt.sessions, lost_after=LOST_AFTER) == {"lost": [], "finished": []}
    assert run_row(rt, run_id).status == "running"
