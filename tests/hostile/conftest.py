"""The hostile suite's resources, memory meter and record readers.

- ``hostile_resources``: a migrated SQLite database and resources whose limits are the
  defaults' shape at test scale (8 MiB cap, generous timeouts: a busy machine must not turn
  a multi-MB success into a timeout), private networks allowed (the server is on loopback;
  the SSRF cases build their own resources without). ``hostile_resources_with(**limits)``:
  the same with some limits replaced (``SHORT_DEADLINE`` for the cases that must time out).
- ``measure()``: peak memory growth and time of a block, from the kernel's peak-RSS counter
  (reset through ``/proc/self/clear_refs``) so C allocations (expat, zlib, brotli) count too;
  ``tracemalloc`` where the counter cannot be reset.
"""

from __future__ import annotations

import contextlib
import re
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Article, ArticleSource, Change, Feed, FeedFetch, session_scope
from tests.support.services import migrate
from tests.worker.pipeline.conftest import make_settings
from worker.pipeline import FeedRefresh, refresh_feed
from worker.resources import Resources, build_resources
from worker.store import add_feed

HOSTILE_LIMITS: dict[str, object] = {
    "max_response_bytes": 8 * 1024 * 1024,
    "connect_timeout_s": 60.0,
    "read_timeout_s": 60.0,
    "total_timeout_s": 120.0,
    "max_redirects": 5,
}
#: For a case that must end in a timeout: its total deadline fires long before the read
#: timeout could, or its trickle could end.
SHORT_DEADLINE: dict[str, object] = {"total_timeout_s": 3.0}


def hostile_resources_for(tmp_path: Path, url: str, **overrides: object) -> Resources:
    return build_resources(make_settings(tmp_path, url, **{**HOSTILE_LIMITS, **overrides}))


@pytest.fixture
def hostile_resources_with(tmp_path: Path, sqlite_url: str) -> Iterator[Callable[..., Resources]]:
    migrate(sqlite_url)
    built: list[Resources] = []

    def build(**overrides: object) -> Resources:
        built.append(hostile_resources_for(tmp_path, sqlite_url, **overrides))
        return built[-1]

    yield build
    for rt in built:
        rt.close()


@pytest.fixture
def hostile_resources(hostile_resources_with: Callable[..., Resources]) -> Resources:
    return hostile_resources_with()


# --- memory and time ------------------------------------------------------------------------


@dataclass
class Usage:
    seconds: float = 0.0
    peak_mb: float = 0.0


def _status_kb(name: str) -> int:
    match = re.search(rf"^{name}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(match.group(1)) if match else 0


def _can_reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") > 0


@contextlib.contextmanager
def measure() -> Iterator[Usage]:
    """Time and peak memory growth (MB) of the block."""
    usage = Usage()
    by_rss = _can_reset_peak()
    if by_rss:
        before = _status_kb("VmRSS")
    else:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        yield usage
    finally:
        usage.seconds = time.perf_counter() - started
        if by_rss:
            usage.peak_mb = max(0, _status_kb("VmHWM") - before) / 1024
        else:
            usage.peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()


# --- the record ---------------------------------------------------------------------------


@dataclass
class FeedRecord:
    """What the worker left behind for one feed after a refresh."""

    refresh: FeedRefresh
    feed: Feed
    fetches: list[FeedFetch]
    articles: list[Article]
    sources: list[ArticleSource]
    created_changes: int
    usage: Usage = field(default_factory=Usage)

    @property
    def fetch(self) -> FeedFetch:
        return self.fetches[-1]


def add(rt: Resources, url: str) -> int:
    with session_scope(rt.sessions) as s:
        return add_feed(s, url)[0].id


def record_of(rt: Resources, feed_id: int, refresh: FeedRefresh, usage: Usage) -> FeedRecord:
    with session_scope(rt.sessions) as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        fetches = list(s.scalars(select(FeedFetch).where(FeedFetch.feed_id == feed_id)))
        source_ids = select(ArticleSource.article_id).where(ArticleSource.feed_id == feed_id)
        articles = list(s.scalars(select(Article).where(Article.id.in_(source_ids))))
        sources = list(s.scalars(select(ArticleSource).where(ArticleSource.feed_id == feed_id)))
        created = s.scalar(
            select(func.count()).select_from(Change).where(Change.kind == "article.created")
        )
    return FeedRecord(refresh, feed, fetches, articles, sources, int(created or 0), usage)


def refresh_and_record(rt: Resources, url: str) -> FeedRecord:
    feed_id = add(rt, url)
    with measure() as usage:
        refresh = refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id)
    return record_of(rt, feed_id, refresh, usage)
