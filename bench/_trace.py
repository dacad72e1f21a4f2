"""A tracing hook for bench/pipeline.py: run a ``storywire`` command with stage timers.

    STORYWIRE_BENCH_TRACE=/tmp/dir python bench/_trace.py worker --concurrency 2

Before the command starts (so Celery's pool children inherit it), this wraps the pipeline's
steps with timers, counts the SQL statements and commits of every engine, and stamps each
Celery message with the time it was sent. Every task (Celery) or article (``fetch --inline``)
becomes one JSON line in ``$STORYWIRE_BENCH_TRACE/trace-<pid>.jsonl``:

    {"kind": "worker.tasks.fetch_article", "sent": t, "start": t, "end": t, "cpu": s,
     "stages": {"fetch": s, "extract": s, "store": s}, "statements": n, "commits": n}

Nothing here changes what the pipeline does; it only looks at the time (wall clock, so that
records of different processes line up; ``cpu`` is the thread's CPU time, which a busy
machine does not inflate the way it inflates the wall clock).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import REPO_ROOT  # noqa: F401  (puts the repository on sys.path)

TRACE_ENV = "STORYWIRE_BENCH_TRACE"
SENT_HEADER = "bench_sent"

_state = threading.local()
_files: dict[int, Any] = {}
_files_lock = threading.Lock()


class _Record:
    def __init__(self, kind: str, sent: float | None = None) -> None:
        self.kind = kind
        self.sent = sent
        self.start = time.time()
        self.cpu_start = time.thread_time()
        self.stages: dict[str, float] = defaultdict(float)
        self.statements = 0
        self.commits = 0
        self.items = 1

    def as_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "pid": os.getpid(),
                "sent": self.sent,
                "start": self.start,
                "end": time.time(),
                "cpu": time.thread_time() - self.cpu_start,
                "stages": self.stages,
                "statements": self.statements,
                "commits": self.commits,
                "items": self.items,
            }
        )


def _current() -> _Record | None:
    return getattr(_state, "record", None)


def _write(record: _Record) -> None:
    pid = os.getpid()
    with _files_lock:
        out = _files.get(pid)
        if out is None:
            path = Path(os.environ[TRACE_ENV]) / f"trace-{pid}.jsonl"
            out = _files[pid] = path.open("a", buffering=1)
        out.write(record.as_json() + "\n")


def begin(kind: str, sent: float | None = None) -> None:
    _state.record = _Record(kind, sent)


def end() -> None:
    record = _current()
    _state.record = None
    if record is not None:
        _write(record)


def _timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        record = _current()
        if record is None:
            return fn(*args, **kwargs)
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            record.stages[stage] += time.perf_counter() - started
            record.stages[f"{stage}_cpu"] += time.thread_time() - cpu

    return wrapper


def _as_record(kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """One record per call (the inline runner's units of work), unless one is open already."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _current() is not None:
            return fn(*args, **kwargs)
        begin(kind)
        try:
            return fn(*args, **kwargs)
        finally:
            end()

    return wrapper


def _wrap(module: Any, name: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    if hasattr(module, name):
        setattr(module, name, wrap(getattr(module, name)))


def install() -> None:
    from celery import signals
    from sqlalchemy import Engine, event

    import worker.pipeline.article as article
    import worker.pipeline.feed as feed
    import worker.pipeline.inline as inline
    import worker.tasks as tasks
    from worker.fetch.client import Fetcher

    fetch = Fetcher.fetch

    @functools.wraps(fetch)
    def timed_fetch(self: Fetcher, url: str, **kwargs: Any) -> Any:
        record = _current()
        stage = "feed_fetch" if record is not None and "feed" in record.kind else "fetch"
        return _timed(stage, fetch)(self, url, **kwargs)

    Fetcher.fetch = timed_fetch  # type: ignore[method-assign]
    _wrap(article, "extract_page", functools.partial(_timed, "extract"))
    for name in ("start_try", "_store_page", "_finish_from_feed", "count_attempt"):
        _wrap(article, name, functools.partial(_timed, "store"))
    _wrap(feed, "parse_feed", functools.partial(_timed, "feed_parse"))
    _wrap(tasks, "assign_story_step", functools.partial(_timed, "story"))
    # The inline runner: one record per feed, per article, per story batch.
    _wrap(inline, "refresh_feed", lambda fn: _as_record("inline.feed", fn))
    _wrap(inline, "process_article", lambda fn: _as_record("inline.article", fn))
    for name in ("assign_story", "drain_backlog", "_assign_stories"):
        _wrap(inline, name, lambda fn: _as_record("inline.story", _timed("story", fn)))

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        record = _current()
        if record is not None:
            record.statements += 1

    @event.listens_for(Engine, "commit")
    def _commit(*_args: Any) -> None:
        record = _current()
        if record is not None:
            record.commits += 1

    @signals.before_task_publish.connect(weak=False)
    def _stamp(headers: dict[str, Any] | None = None, **_: Any) -> None:
        if headers is not None:
            headers[SENT_HEADER] = time.time()

    @signals.task_prerun.connect(weak=False)
    def _prerun(task: Any = None, **_: Any) -> None:
        begin(task.name, getattr(task.request, SENT_HEADER, None))

    @signals.task_postrun.connect(weak=False)
    def _postrun(**_: Any) -> None:
        end()


def main() -> None:
    install()
    from worker.cli import main as storywire

    sys.argv = ["storywire", *sys.argv[1:]]
    storywire()


if __name__ == "__main__":
    main()
