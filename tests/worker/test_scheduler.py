"""Due-feed dispatch (per-host cap, claiming), adaptive interval, back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from models import Feed, make_engine, session_factory, session_scope, utcnow
from tests.support.services import migrate
from worker.config import Settings
from worker.scheduler import (
    adaptive_interval,
    backoff_delay,
    claim_due_feeds,
    publisher_floor_s,
)
from worker.store import add_feed

#: The dispatch lease of the shipped settings.
LEASE_S = Settings.model_fields["dispatch_lease_s"].default


def test_claim_caps_per_host_and_does_not_claim_twice(tmp_path: Path, sqlite_url: str) -> None:
    migrate(sqlite_url)
    sessions = session_factory(make_engine(sqlite_url))
    with session_scope(sessions) as s:
        for i in range(5):
            add_feed(s, f"https://a.example/feed{i}.xml")
        for i in range(2):
            add_feed(s, f"https://b.example/feed{i}.xml")
        gone, _ = add_feed(s, "https://c.example/feed.xml")
        s.execute(update(Feed).where(Feed.id == gone.id).values(status="gone"))
    now = utcnow() + timedelta(seconds=1)
    with session_scope(sessions) as s:
        first = claim_due_feeds(s, now, per_host=2, limit=100, lease_s=LEASE_S)
    with session_scope(sessions) as s:
        hosts = [s.get(Feed, i).host for i in first]  # type: ignore[union-attr]
        second = claim_due_feeds(s, now, per_host=2, limit=100, lease_s=LEASE_S)
    assert sorted(hosts) == ["a.example", "a.example", "b.example", "b.example"]
    # Claimed feeds are leased: the next tick takes the next two of a.example, nothing twice.
    assert len(second) == 2 and not set(second) & set(first)
    with session_scope(sessions) as s:
        third = claim_due_feeds(s, now, per_host=2, limit=100, lease_s=LEASE_S)
        assert claim_due_feeds(s, now, per_host=2, limit=100, lease_s=LEASE_S) == []
    assert len(third) == 1
    with session_scope(sessions) as s:
        later = claim_due_feeds(s, now + timedelta(hours=1), per_host=2, limit=100, lease_s=LEASE_S)
    assert len(later) == 4  # leases expired: capped at two per host again


def test_adaptive_interval_follows_the_feed_rhythm() -> None:
    settings = Settings(min_interval_s=300, max_interval_s=86_400, default_interval_s=900)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    hourly = [start + timedelta(hours=h) for h in range(10)]
    daily = [start + timedelta(days=d) for d in range(10)]
    busy = [start + timedelta(minutes=m) for m in range(10)]
    assert adaptive_interval(hourly, settings) == 1800
    assert adaptive_interval(daily, settings) == 43_200
    assert adaptive_interval(busy, settings) == 300  # bounded below
    assert adaptive_interval([], settings) == 900
    assert adaptive_interval(busy, settings, floor_s=3600) == 3600  # TTL respected


def test_backoff_grows_and_is_capped() -> None:
    settings = Settings(max_backoff_s=86_400)
    delays = [backoff_delay(n, 900, settings) for n in range(1, 12)]
    assert 720 <= delays[0] <= 900
    assert delays[3] > delays[1] > delays[0]
    assert max(delays) <= 86_400


def test_backoff_with_no_errors_is_the_interval_with_jitter() -> None:
    settings = Settings(max_backoff_s=86_400)
    delays = {backoff_delay(0, 600, settings) for _ in range(50)}
    assert all(480 <= d <= 600 for d in delays)
    assert len(delays) > 1


def test_backoff_stays_at_the_cap_forever() -> None:
    settings = Settings(max_backoff_s=3600)
    for errors in (10, 100, 10_000):
        assert 0.8 * 3600 <= backoff_delay(errors, 900, settings) <= 3600


@pytest.mark.parametrize(
    ("headers", "ttl_s", "expected"),
    [
        ({}, None, None),
        ({}, 600, 600),
        ({"cache-control": "max-age=120"}, None, 120),
        ({"cache-control": "no-cache, max-age=120"}, 600, 600),
        ({"cache-control": 'private, max-age="900"'}, None, 900),
        ({"cache-control": "s-maxage=300"}, None, 300),
        ({"cache-control": "no-store"}, None, None),
        ({"retry-after": "1800"}, 60, 1800),
        ({"retry-after": "soon"}, None, None),
        ({"cache-control": "max-age=99999999"}, None, 86_400),  # capped at max_interval_s
    ],
)
def test_publisher_floor(
    headers: dict[str, str], ttl_s: int | None, expected: float | None
) -> None:
    settings = Settings(max_interval_s=86_400)
    assert publisher_floor_s(httpx.Headers(headers), ttl_s, settings) == expected


def test_a_claim_leases_the_feed_for_the_given_time(tmp_path: Path, sqlite_url: str) -> None:
    # The caller says how long (the dispatch task: STORYWIRE_DISPATCH_LEASE_S); nothing is
    # read from the process's settings behind its back.
    migrate(sqlite_url)
    sessions = session_factory(make_engine(sqlite_url))
    with session_scope(sessions) as s:
        add_feed(s, "https://a.example/feed.xml")
    now = utcnow() + timedelta(seconds=1)
    with session_scope(sessions) as s:
        (feed_id,) = claim_due_feeds(s, now, per_host=2, limit=10, lease_s=30)
    with session_scope(sessions) as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        assert feed.next_check_at == now + timedelta(seconds=30)
        assert (
            claim_due_feeds(s, now + timedelta(seconds=29), per_host=2, limit=10, lease_s=45) == []
        )
        assert claim_due_feeds(
            s, now + timedelta(seconds=31), per_host=2, limit=10, lease_s=45
        ) == [feed_id]
        s.refresh(feed)
        assert feed.next_check_at == now + timedelta(seconds=31 + 45)
