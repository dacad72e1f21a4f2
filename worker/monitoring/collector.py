"""Gauges read from the database and the broker when Prometheus scrapes, not kept by processes.

Usage::

    registry = CollectorRegistry()
    registry.register(DeploymentCollector(settings))

Queue depths, articles by status, feeds due and overdue, the change feed's head and its age,
and the beat's and workers' heartbeats: the same for every process of a deployment, so they
come from where the truth is. Each scrape runs a handful of indexed queries and one Redis
pipeline; the article count by status (a scan of an index) is reused for
``DEFAULT_STATUS_CACHE_S`` so frequent scrapes stay cheap. A source that fails leaves its
gauges out and sets ``storywire_scrape_error{source}`` to 1: a scrape never fails as a whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from models import RunKind, utcnow
from worker.config import Settings
from worker.heartbeat import worker_stale_before
from worker.monitoring import queries

log = logging.getLogger(__name__)

#: Seconds the article counts by status are reused between scrapes.
DEFAULT_STATUS_CACHE_S = 60.0


class DeploymentCollector(Collector):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._statuses: dict[str, int] = {}
        self._statuses_at = float("-inf")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        errors = GaugeMetricFamily(
            "storywire_scrape_error",
            "1 when a source of the deployment gauges could not be read in this scrape.",
            labels=["source"],
        )
        engine = queries.read_engine(self._settings.sqlalchemy_url)
        try:
            for source, collect in (("database", self._database), ("broker", self._broker)):
                families = _guarded(source, collect, engine)
                errors.add_metric([source], float(families is None))
                yield from families or []
        finally:
            engine.dispose()
        yield errors

    def _database(self, engine: Any) -> list[GaugeMetricFamily]:
        now = utcnow()
        due, overdue = queries.feeds_due(engine, now)
        found = [
            _gauge("storywire_feeds_due", "Feeds due for a poll now.", due),
            _gauge(
                "storywire_feeds_overdue",
                f"Feeds due for more than {queries.DEFAULT_OVERDUE_AFTER_S:.0f} s (dispatch "
                "is not keeping up).",
                overdue,
            ),
        ]
        feeds = GaugeMetricFamily("storywire_feeds", "Feeds by status.", labels=["status"])
        for status, count in sorted(queries.feeds_by_status(engine).items()):
            feeds.add_metric([status], count)
        found.append(feeds)
        articles = GaugeMetricFamily(
            "storywire_articles", "Stored articles by status.", labels=["status"]
        )
        for status, count in sorted(self._article_statuses(engine).items()):
            articles.add_metric([status], count)
        found.append(articles)
        head = queries.change_head(engine)
        found.append(
            _gauge("storywire_changes_head_id", "Id of the newest change.", head[0] if head else 0)
        )
        if head is not None:
            found.append(
                _gauge(
                    "storywire_changes_head_age_seconds",
                    "Age of the newest change (how long nothing was recorded).",
                    max(0.0, (now - head[1]).total_seconds()),
                )
            )
        beat = queries.last_heartbeat(engine, RunKind.BEAT)
        if beat is not None:
            found.append(
                _gauge(
                    "storywire_beat_last_tick_age_seconds",
                    "Seconds since the beat last sent dispatch_due_feeds.",
                    max(0.0, (now - beat).total_seconds()),
                )
            )
        alive = queries.alive_runs(engine, RunKind.WORKER, worker_stale_before(now, self._settings))
        alive_help = "Worker processes with a fresh heartbeat."
        found.append(_gauge("storywire_workers_alive", alive_help, len(alive)))
        return found

    def _article_statuses(self, engine: Any) -> dict[str, int]:
        if time.monotonic() - self._statuses_at >= DEFAULT_STATUS_CACHE_S:
            self._statuses = queries.articles_by_status(engine)
            self._statuses_at = time.monotonic()
        return self._statuses

    def _broker(self, _engine: Any) -> list[GaugeMetricFamily]:
        depths = GaugeMetricFamily(
            "storywire_queue_depth", "Tasks waiting in each queue.", labels=["queue"]
        )
        for queue, depth in queries.queue_depths(self._settings).items():
            depths.add_metric([queue], depth)
        return [depths]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _guarded(
    source: str, collect: Callable[[Any], list[GaugeMetricFamily]], engine: Any
) -> list[GaugeMetricFamily] | None:
    """What ``collect`` found, or None when it failed (logged, not raised)."""
    try:
        return collect(engine)
    except Exception as exc:
        log.warning("metrics: %s not readable: %s", source, exc)
        return None
