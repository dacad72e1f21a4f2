"""Prometheus metrics of the pipeline: what each stage did and how long it took.

Usage::

    from worker import metrics

    metrics.observe_feed_fetch("ok", None, seconds=0.42, host="news.example")
    metrics.observe_page_fetch("failed", "http_404", seconds=0.3, host="news.example")
    metrics.observe_extraction(0.05)
    with metrics.time_story_step():
        ...
    with metrics.time_refinement():       # the periodic story refinement
        ...

Every helper is cheap and never raises into the pipeline. The metric objects are created on
first use, not at import: Celery's prefork pool runs tasks in forked children, and
prometheus-client picks its storage (one memory-mapped file per process, summed at scrape
time) from ``PROMETHEUS_MULTIPROC_DIR`` when a metric is created.
:func:`prepare_multiprocess` sets that up in the serving process before any metric exists.

Per-domain series have bounded cardinality: only the ``STORYWIRE_METRICS_TOP_DOMAINS`` hosts
whose feeds list the most entries get a label of their own (read from the ``feeds`` table,
again every few minutes); every other host is ``other``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select

from models import Feed, FetchOutcome, make_read_engine

if TYPE_CHECKING:
    from prometheus_client import Histogram

log = logging.getLogger(__name__)

#: Environment variable by which prometheus-client shares values between processes.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Label of every host outside the top N.
OTHER_DOMAIN = "other"
#: How often each process re-reads which hosts are the top N.
DEFAULT_DOMAIN_REFRESH_S = 300.0
#: Longest wait for the database when the top hosts are read (the label is then ``other``).
DEFAULT_READ_TIMEOUT_S = 5.0
#: Bucket bounds (seconds) of the stage durations: 5 ms to 2 min.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
#: Refinement re-clusters a whole window: longer runs.
REFINEMENT_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


def prepare_multiprocess(data_dir: Path) -> Path:
    """Share metric values between this process and its forked children, from a clean slate.

    Call it in the process that serves ``/metrics`` (``storywire run`` / ``worker``), before
    the pool starts. Files of an earlier run are removed: a dead process's counters must not
    be added to this run's. ``PROMETHEUS_MULTIPROC_DIR``, when the deployment sets it, wins
    over ``DATA_DIR/metrics``.
    """
    path = Path(os.environ.get(MULTIPROC_ENV) or data_dir / "metrics")
    path.mkdir(parents=True, exist_ok=True)
    # Only prometheus-client's own files: the directory may be one the deployment chose.
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    from prometheus_client import values

    # prometheus-client chose its value storage when it was imported, perhaps before the
    # variable was set: choose again (no metric of ours exists yet, see _metrics()).
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return path


def multiprocess_dir() -> Path | None:
    """The shared metrics directory of this process tree, if there is one."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value and Path(value).is_dir() else None


def mark_process_dead(pid: int) -> None:
    """Forget a dead pool child's live gauges (its counters keep counting in the total)."""
    if multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


# --- the stages ------------------------------------------------------------------------


def observe_feed_fetch(
    outcome: str, error_class: str | None, *, seconds: float, host: str = ""
) -> None:
    """One feed refresh: its outcome (``ok``, ``error``, ``deferred``...) and fetch time."""
    with _never_raise():
        m = _metrics()
        m.feed_fetches.labels(outcome, error_class or "").inc()
        if outcome != FetchOutcome.DEFERRED:  # no request was made
            m.feed_fetch_seconds.observe(seconds)
        m.domain_fetches.labels(domain_label(host), "feed", outcome).inc()


def observe_page_fetch(
    outcome: str, error_class: str | None, *, seconds: float | None, host: str = ""
) -> None:
    """One article page: ``ok``, ``failed``, ``blocked`` or ``retry``, and its fetch time."""
    with _never_raise():
        m = _metrics()
        m.page_fetches.labels(outcome, error_class or "").inc()
        if seconds is not None:
            m.page_fetch_seconds.observe(seconds)
        m.domain_fetches.labels(domain_label(host), "page", outcome).inc()


def observe_extraction(seconds: float) -> None:
    with _never_raise():
        _metrics().extraction_seconds.observe(seconds)


def observe_story_step(seconds: float) -> None:
    with _never_raise():
        _metrics().story_step_seconds.observe(seconds)


def observe_refinement(seconds: float) -> None:
    """One run of the periodic story refinement (re-clustering of the live window)."""
    with _never_raise():
        _metrics().refinement_seconds.observe(seconds)


def observe_rate_wait(seconds: float) -> None:
    """A request waited ``seconds`` for its host's turn (per-host politeness)."""
    with _never_raise():
        _metrics().rate_waits.observe(seconds)


def count_rate_deferral() -> None:
    """A request was deferred: its host's turn was further away than the longest wait."""
    with _never_raise():
        _metrics().rate_deferrals.inc()


@contextlib.contextmanager
def time_story_step() -> Iterator[None]:
    with _timed(observe_story_step):
        yield


@contextlib.contextmanager
def time_refinement() -> Iterator[None]:
    with _timed(observe_refinement):
        yield


@contextlib.contextmanager
def _timed(observe: Callable[[float], None]) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        observe(time.monotonic() - started)


@contextlib.contextmanager
def _never_raise() -> Iterator[None]:
    # Metrics are advisory: a full disk or a bug here must not fail a fetch.
    try:
        yield
    except Exception:
        log.debug("metrics update failed", exc_info=True)


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        by_outcome = ["outcome", "error_class"]
        self.feed_fetches = Counter(
            "storywire_feed_fetches", "Feed refreshes by outcome and error class.", by_outcome
        )
        self.page_fetches = Counter(
            "storywire_page_fetches",
            "Article pages processed by outcome and error class.",
            by_outcome,
        )
        self.domain_fetches = Counter(
            "storywire_domain_fetches",
            "Feed and page fetches per host (the top hosts by volume; the rest as other).",
            ["domain", "kind", "outcome"],
        )
        self.rate_deferrals = Counter(
            "storywire_rate_limit_deferrals",
            "Requests deferred because their host's turn was too far away.",
        )
        seconds: dict[str, Histogram] = {
            name: Histogram(f"storywire_{name}", doc, buckets=buckets)
            for name, doc, buckets in _DURATIONS
        }
        self.feed_fetch_seconds = seconds["feed_fetch_seconds"]
        self.page_fetch_seconds = seconds["page_fetch_seconds"]
        self.extraction_seconds = seconds["extraction_seconds"]
        self.story_step_seconds = seconds["story_step_seconds"]
        self.refinement_seconds = seconds["refinement_seconds"]
        self.rate_waits = seconds["rate_limit_wait_seconds"]


#: The histograms of the stages: name (after ``storywire_``), help text, buckets.
_DURATIONS = (
    ("feed_fetch_seconds", "Time to fetch and parse one feed.", DEFAULT_BUCKETS),
    ("page_fetch_seconds", "Time to fetch one article page.", DEFAULT_BUCKETS),
    ("extraction_seconds", "Time to extract one page's text and metadata.", DEFAULT_BUCKETS),
    (
        "story_step_seconds",
        "Time of one story-step task (one article or a batch).",
        DEFAULT_BUCKETS,
    ),
    ("refinement_seconds", "Time of one story refinement run.", REFINEMENT_BUCKETS),
    (
        "rate_limit_wait_seconds",
        "Time requests waited for their host's turn (per-host rate limit).",
        DEFAULT_BUCKETS,
    ),
)


_lock = threading.Lock()
_instances: dict[int, _Metrics] = {}


def _metrics() -> _Metrics:
    # One set per process; created after fork in each pool child (see the module docstring).
    pid = os.getpid()
    found = _instances.get(pid)
    if found is None:
        with _lock:
            found = _instances.get(pid)
            if found is None:
                _instances.clear()
                found = _instances[pid] = _Metrics()
    return found


# --- bounded per-domain labels ---------------------------------------------------------


class _TopDomains:
    """The N hosts whose feeds list the most entries, re-read every few minutes."""

    def __init__(self, load: Callable[[int], list[str]], size: int, refresh_s: float) -> None:
        self._load = load
        self._size = size
        self._refresh_s = refresh_s
        self._hosts: frozenset[str] = frozenset()
        self._next_at = 0.0

    def label(self, host: str) -> str:
        if self._size <= 0 or not host:
            return OTHER_DOMAIN
        now = time.monotonic()
        if now >= self._next_at:
            self._next_at = now + self._refresh_s
            try:
                self._hosts = frozenset(self._load(self._size))
            except Exception:
                log.debug("could not read the top hosts", exc_info=True)
        return host if host in self._hosts else OTHER_DOMAIN


#: Where the top hosts are read from, and how many (``label_top_domains``); None: not set.
_domain_source: tuple[str, int] | None = None


def label_top_domains(database_url: str, size: int) -> None:
    """Label the per-domain series of this process (and of those it forks) with the ``size``
    hosts whose feeds in this database list the most entries; until called, every host is
    ``other``. ``worker.resources.build_resources`` calls it with the process's settings."""
    global _domain_source
    _domain_source = (database_url, size)
    _top_domains.cache_clear()


@lru_cache(maxsize=4)
def _top_domains(pid: int) -> _TopDomains:
    if _domain_source is None:
        return _TopDomains(lambda _size: [], 0, DEFAULT_DOMAIN_REFRESH_S)
    url, size = _domain_source
    return _TopDomains(_loader(url), size, DEFAULT_DOMAIN_REFRESH_S)


def domain_label(host: str) -> str:
    """``host`` itself when it is one of the top N by volume, else ``"other"``."""
    return _top_domains(os.getpid()).label(host)


def top_hosts(engine: Engine, size: int) -> list[str]:
    """The ``size`` feed hosts whose feeds listed the most entries at their last fetch."""
    volume = func.sum(func.coalesce(Feed.last_entries_seen, 0)) + func.count()
    query = select(Feed.host).group_by(Feed.host).order_by(volume.desc(), Feed.host).limit(size)
    with engine.connect() as conn:
        return [str(h) for h in conn.execute(query).scalars()]


def _loader(url: str) -> Callable[[int], list[str]]:
    def load(size: int) -> list[str]:
        engine = make_read_engine(url, connect_timeout_s=DEFAULT_READ_TIMEOUT_S)
        try:
            return top_hosts(engine, size)
        finally:
            engine.dispose()

    return load
