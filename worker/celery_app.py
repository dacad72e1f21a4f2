"""The Celery app: queues, routes, reliability settings and the beat schedule.

Usage::

    celery -A worker.celery_app worker -Q feeds,articles,stories
    celery -A worker.celery_app beat

(``storywire worker`` / ``storywire beat`` / ``storywire run`` wrap these.)
"""

from __future__ import annotations

import contextlib
import functools
import gc
import sqlite3
from pathlib import Path
from typing import Any

from celery import Celery, signals
from kombu.entity import Queue
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport

from worker.config import Settings, get_settings
from worker.extract import warm_up

QUEUES = ("feeds", "articles", "stories")
#: How often the embedded (SQLite) broker is polled for new messages.
DEFAULT_SQLITE_BROKER_POLL_S = 0.1
#: How long a process waits for another one holding the embedded broker's file lock.
DEFAULT_BROKER_BUSY_TIMEOUT_S = 30.0
#: Messages a worker process holds ready on the embedded broker. That broker is polled
#: (``DEFAULT_SQLITE_BROKER_POLL_S``): holding one (Redis' setting, so that other workers
#: can take the rest) left a process idle for up to a poll after each task. One machine
#: consumes it, so there is nobody else to leave messages to.
DEFAULT_EMBEDDED_PREFETCH = 4
#: Prune old changes, sketches past the syndication window (and articles past their
#: retention, when set) this often.
DEFAULT_PRUNE_INTERVAL_S = 3600.0


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings derived from Storywire's settings."""
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        # Redis redelivers a message not acked within this window: longer than any task.
        "broker_transport_options": (
            {"visibility_timeout": 3600}
            if settings.redis_url
            else {"creator": functools.partial(_broker_connection, settings.broker_path)}
        ),
        "task_queues": [Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        "task_default_queue": "feeds",
        "task_routes": {
            "worker.tasks.dispatch_due_feeds": {"queue": "feeds"},
            "worker.tasks.sweep": {"queue": "feeds"},
            "worker.tasks.prune_changes": {"queue": "feeds"},
            "worker.tasks.prune_sketches": {"queue": "feeds"},
            "worker.tasks.prune_articles": {"queue": "feeds"},
            "worker.tasks.fetch_feed": {"queue": "feeds"},
            "worker.tasks.fetch_article": {"queue": "articles"},
            "worker.tasks.assign_story": {"queue": "stories"},
            "worker.tasks.refine_stories": {"queue": "stories"},
        },
        # At-least-once: ack after the task ran, requeue if the worker process dies mid-task;
        # every write is an idempotent upsert, so a redelivery cannot duplicate anything.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1 if settings.redis_url else DEFAULT_EMBEDDED_PREFETCH,
        "task_ignore_result": True,
        "result_backend": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "dispatch-due-feeds": {
                "task": "worker.tasks.dispatch_due_feeds",
                "schedule": settings.dispatch_interval_s,
            },
            "sweep": {"task": "worker.tasks.sweep", "schedule": settings.sweep_interval_s},
            "prune-changes": {
                "task": "worker.tasks.prune_changes",
                "schedule": DEFAULT_PRUNE_INTERVAL_S,
            },
            "prune-sketches": {
                "task": "worker.tasks.prune_sketches",
                "schedule": DEFAULT_PRUNE_INTERVAL_S,
            },
            "refine-stories": {
                "task": "worker.tasks.refine_stories",
                "schedule": settings.refine_interval_s,
            },
            # A no-op unless STORYWIRE_ARTICLE_RETENTION_DAYS is set.
            "prune-articles": {
                "task": "worker.tasks.prune_articles",
                "schedule": DEFAULT_PRUNE_INTERVAL_S,
            },
        },
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
    }


def _broker_connection(path: Path) -> sqlite3.Connection:
    """A connection to the embedded broker's file, for kombu's SQLAlchemy transport.

    Why: kombu opens it with SQLite's defaults, a rollback journal synced to disk at every
    commit, in which each poll (a write transaction) and each publish wait for one another:
    publishing a message took ~40 ms of a worker process on a busy machine. In WAL mode,
    synced at checkpoints only (a message lost to a power cut is swept up like a lost task),
    they no longer block each other's reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=DEFAULT_BROKER_BUSY_TIMEOUT_S, check_same_thread=False)
    # Switching needs a moment alone with the file; once switched it stays so for everyone.
    with contextlib.suppress(sqlite3.OperationalError):
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


# The embedded SQLite broker is polled, once a second by default: that caps a worker at about
# one task per second per queue. kombu's SQLAlchemy transport hands every transport option to
# create_engine (which rejects "polling_interval"), so the interval is set on the class.
SQLAlchemyTransport.polling_interval = DEFAULT_SQLITE_BROKER_POLL_S

app = Celery("storywire", include=["worker.tasks"])
# Read lazily, on first use of the configuration: the CLI sets up the environment first.
app.add_defaults(lambda: celery_config(get_settings()))


def freeze_startup_objects(**_kwargs: object) -> None:
    """Move the objects a worker process starts with (modules, classes, the ORM's mappings:
    ~180k, inherited from the parent at fork) out of the garbage collector's sight.

    Why: they live as long as the process, yet every full collection walks them all: 130-150 ms
    once every few hundred articles of the story step at 1M stored articles, against ~15 ms
    frozen (docs/stories.md, round seven). No ``gc.collect()`` first: in a forked child it
    would write to every inherited object's header and unshare their memory pages."""
    gc.freeze()


signals.worker_process_init.connect(freeze_startup_objects)


def warm_up_extraction(**_kwargs: object) -> None:
    """In the worker's main process, before the pool forks: the date parser's language data
    is loaded once and shared by every child instead of loaded by each on its first pages."""
    warm_up()


signals.worker_init.connect(warm_up_extraction)
