"""When each feed is polled next: dispatch of due feeds, adaptive intervals, error back-off.

The schedule is a column (``feeds.next_check_at``), never a broker countdown: it survives
restarts, and Redis would redeliver a long-delayed message anyway once its visibility timeout
passes.
"""

from __future__ import annotations

import itertools
import random
import re
import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Feed, FeedStatus
from worker.config import Settings
from worker.fetch.classify import parse_retry_after

#: Entry timestamps considered when adapting the interval.
DEFAULT_RHYTHM_SAMPLE = 20
#: Jitter of the back-off: the delay is drawn from ``[1 - JITTER, 1]`` times the nominal one.
BACKOFF_JITTER = 0.2

_MAX_AGE = re.compile(r"(?:^|[,\s])(s-maxage|max-age)\s*=\s*\"?(\d+)", re.I)


def claim_due_feeds(
    session: Session,
    now: datetime,
    *,
    per_host: int,
    limit: int,
    lease_s: float,
) -> list[int]:
    """Ids of feeds due at ``now``, at most ``per_host`` per host, oldest first; claimed.

    Claiming moves ``next_check_at`` forward by the dispatch lease (``lease_s``, the
    ``dispatch_lease_s`` setting), in the caller's transaction, so that overlapping ticks
    never enqueue the same feed twice.
    """
    lease = timedelta(seconds=lease_s)
    ranked = (
        select(
            Feed.id,
            Feed.next_check_at,
            func.row_number()
            .over(partition_by=Feed.host, order_by=Feed.next_check_at)
            .label("rank"),
        )
        .where(
            Feed.next_check_at <= now,
            Feed.status.in_([FeedStatus.ACTIVE, FeedStatus.ERRORING]),
        )
        .subquery()
    )
    ids = list(
        session.execute(
            select(ranked.c.id)
            .where(ranked.c.rank <= per_host)
            .order_by(ranked.c.next_check_at)
            .limit(limit)
        ).scalars()
    )
    if ids:
        session.execute(
            update(Feed)
            .where(Feed.id.in_(ids))
            .values(next_check_at=now + lease)
            .execution_options(synchronize_session=False)
        )
    return [int(i) for i in ids]


def adaptive_interval(
    entry_times: Sequence[datetime],
    settings: Settings,
    *,
    floor_s: float | None = None,
) -> int:
    """Seconds until the next poll, from how often the feed publishes.

    Half the median gap between recent entries (so a new entry waits on average a quarter of
    the gap), bounded by the configured min/max, and never below ``floor_s`` (the feed's own
    TTL, Cache-Control max-age or Retry-After: the publisher asked us not to come sooner).
    """
    times = sorted(entry_times, reverse=True)[:DEFAULT_RHYTHM_SAMPLE]
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(times)]
    gaps = [g for g in gaps if g > 0]
    interval = statistics.median(gaps) / 2 if gaps else float(settings.default_interval_s)
    interval = min(max(interval, settings.min_interval_s), settings.max_interval_s)
    if floor_s is not None:
        interval = max(interval, min(floor_s, settings.max_backoff_s))
    return int(interval)


def backoff_delay(consecutive_errors: int, base_interval_s: int, settings: Settings) -> float:
    """Exponential back-off with jitter, capped: a failing feed is retried, never dropped.

    ``base * 2**(errors - 1)``, at most ``settings.max_backoff_s``, times a random factor
    in ``[0.8, 1]``; 0 errors gives the base interval (with jitter).
    """
    exponent = min(max(consecutive_errors - 1, 0), 16)
    delay = min(max(base_interval_s, 1) * (2**exponent), settings.max_backoff_s)
    # Jitter spreads the retries of many feeds that failed together (one host down).
    return float(delay * random.uniform(1.0 - BACKOFF_JITTER, 1.0))


def publisher_floor_s(
    headers: Mapping[str, str], ttl_s: float | None, settings: Settings
) -> float | None:
    """The shortest wait the publisher asked for, in seconds, or ``None``.

    The largest of the feed's own TTL (RSS ``<ttl>``, ``sy:updatePeriod``), the response's
    ``Cache-Control: max-age`` (or ``s-maxage``) and a ``Retry-After``; capped at
    ``settings.max_interval_s`` so a silly value cannot park a feed for a year.
    """
    candidates = [ttl_s] if ttl_s else []
    match = _MAX_AGE.search(headers.get("cache-control") or "")
    if match:
        candidates.append(float(match.group(2)))
    retry_after = parse_retry_after(headers.get("retry-after"), max_s=settings.max_interval_s)
    if retry_after:
        candidates.append(retry_after)
    if not candidates:
        return None
    return min(max(candidates), float(settings.max_interval_s))
