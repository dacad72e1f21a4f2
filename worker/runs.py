"""Ingest runs: a worker process's lifetime, a one-off fetch, an offline backfill.

Usage::

    run_id = start_run(sessions, RunKind.FETCH, args={"feeds": [1, 2]})
    ...                                       # articles discovered carry run_id
    finish_run(sessions, run_id, stats={"new_articles": 12})
    run_summary(session, run_id)              # live counts from the articles it discovered

    close_runs(sessions, lost_after=timedelta(minutes=5))   # the sweeper's pass
    finish_if_done(sessions, run_id)          # a queued fetch's task, after its work

A run is ``running`` until it ends: ``finished``, ``failed`` (it stopped on an error), or
``lost`` (its process stopped beating: killed, its host gone). A process that runs a run
(a worker, the beat, an inline fetch) stamps ``heartbeat_at`` (``worker.heartbeat``); a
backfill runs within one command, and a queued fetch has no
process of its own (``heartbeat_at`` stays null) and finishes once the work it asked for
is done: each of its feeds refreshed since it started, and each article it discovered
fetched and given a story (or its story step given up).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from models import (
    Article,
    ArticleStatus,
    Feed,
    FeedFetch,
    FeedStatus,
    FetchOutcome,
    Run,
    RunKind,
    RunStatus,
    session_scope,
    utcnow,
)

log = logging.getLogger(__name__)


def start_run(
    sessions: sessionmaker[Session],
    kind: RunKind,
    *,
    args: dict[str, Any] | None = None,
    beating: bool = False,
) -> int:
    """A new running run. ``beating``: the caller keeps it alive with a
    ``worker.heartbeat.Heartbeat`` (the sweeper then marks it ``lost`` once the stamps
    stop)."""
    with session_scope(sessions) as session:
        now = utcnow()
        run = Run(
            kind=kind,
            status=RunStatus.RUNNING,
            started_at=now,
            heartbeat_at=now if beating else None,
            host=socket.gethostname(),
            pid=os.getpid(),
            args=args or {},
            stats={},
        )
        session.add(run)
        session.flush()
        return run.id


def finish_run(
    sessions: sessionmaker[Session],
    run_id: int,
    *,
    status: RunStatus = RunStatus.FINISHED,
    stats: dict[str, Any] | None = None,
) -> None:
    with session_scope(sessions) as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is not None:
            run.status = status
            run.finished_at = utcnow()
            run.stats = {**run.stats, **(stats or {})}


def close_runs(
    sessions: sessionmaker[Session], *, lost_after: timedelta, now: datetime | None = None
) -> dict[str, list[int]]:
    """The sweeper's pass over running runs: those whose process stopped beating are
    ``lost``, queued fetches whose work is done ``finished``. Returns the ids of each."""
    cutoff = (now or utcnow()) - lost_after
    stale = and_(
        Run.status == RunStatus.RUNNING,
        or_(
            Run.heartbeat_at < cutoff,
            # A worker run without any heartbeat was started by a version that never beat.
            and_(Run.heartbeat_at.is_(None), Run.kind == RunKind.WORKER, Run.started_at < cutoff),
        ),
    )
    with session_scope(sessions) as session:
        lost = list(session.scalars(select(Run.id).where(stale)))
        if lost:
            session.execute(
                update(Run)
                .where(Run.id.in_(lost), stale)
                .values(
                    status=RunStatus.LOST,
                    finished_at=func.coalesce(Run.heartbeat_at, Run.started_at),
                )
                .execution_options(synchronize_session=False)
            )
        queued = list(
            session.scalars(
                select(Run.id).where(
                    Run.status == RunStatus.RUNNING,
                    Run.kind == RunKind.FETCH,
                    Run.heartbeat_at.is_(None),
                )
            )
        )
    finished = [run_id for run_id in queued if finish_if_done(sessions, run_id)]
    return {"lost": lost, "finished": finished}


def finish_if_done(sessions: sessionmaker[Session], run_id: int) -> bool:
    """Finish a queued fetch run whose work is done, with its figures; True if it did."""
    with session_scope(sessions) as session:
        if not _queued_and_done(session, session.get(Run, run_id)):
            return False  # nearly always: checked without a lock
    with session_scope(sessions) as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is None or not _queued_and_done(session, run):
            return False  # another task finished it meanwhile
        run.status = RunStatus.FINISHED
        run.finished_at = utcnow()
        run.stats = {**run.stats, **_fetch_stats(session, run)}
        return True


def _queued_and_done(session: Session, run: Run | None) -> bool:
    # A beating fetch (``--inline``) finishes itself.
    if run is None or run.status != RunStatus.RUNNING or run.kind != RunKind.FETCH:
        return False
    if run.heartbeat_at is not None:
        return False
    unfinished = and_(
        Article.run_id == run.id,
        or_(
            Article.status == ArticleStatus.PENDING,
            and_(Article.story_id.is_(None), Article.story_error.is_(None)),
        ),
    )
    if session.scalar(select(exists().where(unfinished))):
        return False
    feed_ids = [int(i) for i in run.args.get("feeds", [])]
    refreshed = select(FeedFetch.feed_id).where(
        FeedFetch.feed_id.in_(feed_ids), FeedFetch.started_at >= run.started_at
    )
    # Feeds removed, gone or disabled are skipped by their task: nothing left to wait for.
    waiting = session.scalar(
        select(func.count())
        .select_from(Feed)
        .where(
            Feed.id.in_(feed_ids),
            Feed.status.not_in([FeedStatus.GONE, FeedStatus.DISABLED]),
            Feed.id.not_in(refreshed),
        )
    )
    return not waiting


def _fetch_stats(session: Session, run: Run) -> dict[str, Any]:
    """What a queued fetch did, in the figures an inline one reports."""
    counts = article_counts(session, run.id)
    feed_ids = [int(i) for i in run.args.get("feeds", [])]
    failed_feeds = session.scalar(
        select(func.count(func.distinct(FeedFetch.feed_id))).where(
            FeedFetch.feed_id.in_(feed_ids),
            FeedFetch.started_at >= run.started_at,
            FeedFetch.outcome.in_([FetchOutcome.ERROR, FetchOutcome.GONE]),
        )
    )
    return {
        "feeds": len(feed_ids),
        "feeds_failed": int(failed_feeds or 0),
        "new_articles": sum(v for k, v in counts.items() if k != "duplicates"),
        "articles_ok": counts.get(ArticleStatus.OK, 0),
        "articles_failed": counts.get(ArticleStatus.FAILED, 0)
        + counts.get(ArticleStatus.BLOCKED, 0),
        "duplicates": counts["duplicates"],
    }


def article_counts(session: Session, run_id: int) -> dict[str, int]:
    """The run's articles by status, and how many are copies (``duplicates``)."""
    counts = {
        str(status): int(n)
        for status, n in session.execute(
            select(Article.status, func.count())
            .where(Article.run_id == run_id)
            .group_by(Article.status)
        ).all()
    }
    duplicates = session.scalar(
        select(func.count())
        .select_from(Article)
        .where(Article.run_id == run_id, Article.duplicate_of.is_not(None))
    )
    return {**counts, "duplicates": int(duplicates or 0)}


def run_summary(session: Session, run_id: int) -> dict[str, Any] | None:
    """The run row plus live counts of the articles it discovered, by status."""
    run = session.get(Run, run_id)
    if run is None:
        return None
    counts = article_counts(session, run_id)
    duplicates = counts.pop("duplicates")
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "heartbeat_at": run.heartbeat_at,
        "host": run.host,
        "pid": run.pid,
        "args": run.args,
        "stats": run.stats,
        "articles": {"total": sum(counts.values()), **counts, "duplicates": duplicates},
    }
