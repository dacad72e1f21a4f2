"""The Celery app: queues, routes, reliability settings and the beat schedule.

Usage::

    celery -A worker.celery_app worker -Q feeds,articles,stories
    celery -A worker.celery_app beat

(``storywire worker`` / ``storywire beat`` / ``storywire run`` wrap these.)
"""

from __future__ import annotations

import functools
from typing import Any

from celery import Celery
from kombu.entity import Queue

# Imported for the receivers it connects: what the worker and beat processes do at start and
# stop.
import worker.lifecycle  # noqa: F401
from worker.config import Settings, get_settings
from worker.embedded_broker import connect as connect_embedded_broker
from worker.embedded_broker import embedded_broker_url

QUEUES = ("feeds", "articles", "stories")
#: Messages a worker process holds ready on the embedded broker. That broker is polled
#: (``worker.embedded_broker.DEFAULT_POLL_S``): holding one (Redis' setting, so that other
#: workers can take the rest) left a process idle for up to a poll after each task. One
#: machine consumes it, so there is nobody else to leave messages to.
DEFAULT_EMBEDDED_PREFETCH = 4
#: Longest pause between two looks for messages of dead workers to redeliver (Redis).
DEFAULT_RESTORE_INTERVAL_S = 10.0
#: How long a freshly forked pool process may take to report that it is up.
DEFAULT_PROC_ALIVE_TIMEOUT_S = 60.0


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings derived from Storywire's settings."""
    return {
        "broker_url": settings.redis_url or embedded_broker_url(settings.broker_path),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": (
            _redis_options(settings)
            if settings.redis_url
            else {"creator": functools.partial(connect_embedded_broker, settings.broker_path)}
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
        # What one page may cost: interrupted (soft), then its process killed (hard) and the
        # try counted as unfinished (worker/pipeline/tries.py); a process that grew past the
        # memory cap is replaced after its task, so one bloated page does not stay resident.
        "task_soft_time_limit": settings.task_soft_time_limit_s,
        "task_time_limit": settings.task_time_limit_s,
        "worker_max_memory_per_child": settings.max_memory_per_child_mb * 1024,  # KiB
        # Celery kills a new pool process not up within 4 s: on a busy host a slow start is
        # not a dead process (the kill is logged as an error and costs another fork).
        "worker_proc_alive_timeout": DEFAULT_PROC_ALIVE_TIMEOUT_S,
        # No remote control (inspect, revoke, pool resize): nothing here uses it, and its
        # broadcast queue is auto-deleted when a connection closes, which on a Redis restart
        # crashed the worker ('NoneType' object has no attribute 'hostname', kombu#582).
        "worker_enable_remote_control": False,
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
                "schedule": settings.prune_interval_s,
            },
            "prune-sketches": {
                "task": "worker.tasks.prune_sketches",
                "schedule": settings.prune_interval_s,
            },
            "refine-stories": {
                "task": "worker.tasks.refine_stories",
                "schedule": settings.refine_interval_s,
            },
            # A no-op unless STORYWIRE_ARTICLE_RETENTION_DAYS is set.
            "prune-articles": {
                "task": "worker.tasks.prune_articles",
                "schedule": settings.prune_interval_s,
            },
        },
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
    }


def _redis_options(settings: Settings) -> dict[str, Any]:
    visibility = settings.broker_visibility_timeout_s
    return {
        # Redis redelivers a message not acked within this window (its worker died): longer
        # than any task may run (the hard time limit) and than the longest retry countdown.
        "visibility_timeout": visibility,
        # kombu looks for such messages every interval x throttle seconds (100 s by
        # default): a tenth of the timeout at most, so a short one is honoured too.
        "unacked_restore_interval": max(1.0, min(DEFAULT_RESTORE_INTERVAL_S, visibility / 10)),
        "unacked_restore_throttle": 1,
    }


app = Celery("storywire", include=["worker.tasks"])
# Read lazily, on first use of the configuration: the CLI sets up the environment first.
app.add_defaults(lambda: celery_config(get_settings()))
