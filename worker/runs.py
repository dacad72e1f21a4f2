"""Ingest runs: a worker process's lifetime, a one-off fetch, an offline backfill.

Usage::

    run_id = start_run(sessions, RunKind.FETCH, args={"feeds": [1, 2]})
    ...                                       # articles discovered carry run_id
    finish_run(sessions, run_id, stats={"new_articles": 12})
    run_summary(session, run_id)              # live counts from the articles it discovered
"""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from models import Article, Run, RunKind, session_scope, utcnow


def start_run(
    sessions: sessionmaker[Session], kind: RunKind, *, args: dict[str, Any] | None = None
) -> int:
    with session_scope(sessions) as session:
        run = Run(
            kind=kind,
            status="running",
            started_at=utcnow(),
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
    status: str = "finished",
    stats: dict[str, Any] | None = None,
) -> None:
    with session_scope(sessions) as session:
        run = session.get(Run, run_id)
        if run is not None:
            run.status = status
            run.finished_at = utcnow()
            run.stats = {**run.stats, **(stats or {})}


def run_summary(session: Session, run_id: int) -> dict[str, Any] | None:
    """The run row plus live counts of the articles it discovered, by status."""
    run = session.get(Run, run_id)
    if run is None:
        return None
    counts = dict(
        session.execute(
            select(Article.status, func.count())
            .where(Article.run_id == run_id)
            .group_by(Article.status)
        ).all()
    )
    duplicates = session.scalar(
        select(func.count())
        .select_from(Article)
        .where(Article.run_id == run_id, Article.duplicate_of.is_not(None))
    )
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "host": run.host,
        "pid": run.pid,
        "args": run.args,
        "stats": run.stats,
        "articles": {"total": sum(counts.values()), **counts, "duplicates": duplicates or 0},
    }
