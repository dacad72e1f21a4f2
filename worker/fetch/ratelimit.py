"""Per-host politeness: at most N requests per second to one host, across all workers.

Usage::

    limiter = HostRateLimiter.from_settings(settings)   # Redis if REDIS_URL, else a file
    waited = limiter.acquire("example.com")              # sleeps until our turn
    limiter.acquire("example.com", min_interval_s=5.0)   # slower for this call (Crawl-delay)

Each host remembers when its last request was allowed to start. A caller atomically takes
the next slot, ``max(now, last + interval)``, records it as the new "last", and sleeps until
it. Requests to one host are therefore at least ``1 / rate`` seconds apart (or the
caller's ``min_interval_s``, if longer) whoever sends them, callers are served first come
first served, and nobody polls. (This is GCRA, a token bucket of depth one: no bursts, so
"N per second" holds over any window.)

Where the schedule lives:

- with a Redis URL, in Redis: the slot is taken by one Lua script using Redis's clock, so
  every process on every machine shares it and workers' clock skew does not matter;
- with a ``schedule_path`` (embedded mode: ``host-rate.sqlite`` in the data dir), in a small
  SQLite file, the slot taken in one ``BEGIN IMMEDIATE`` transaction: every process of this
  machine shares it, so ``storywire run --concurrency 4`` stays at N per second per host;
- otherwise in this limiter instance (one process, its threads).

If Redis or the file fails, the limiter falls back to its in-process schedule and logs it,
rather than stopping all fetching.

A caller whose slot would be more than ``max_wait_s`` away does not take it:
:class:`HostBusy` is raised (the Fetcher turns it into a ``TransientFetchError`` with
``error_class="rate_limited"`` and ``retry_after``), so a worker is never parked for minutes
behind a queue of requests to one slow host.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    from worker.config import Settings

log = logging.getLogger(__name__)

#: Longest a request waits for its turn before giving up with ``HostBusy``.
DEFAULT_MAX_WAIT_S = 30.0
#: Prefix of the Redis keys holding per-host schedules.
DEFAULT_KEY_PREFIX = "storywire:host-rate:"
#: Socket timeouts towards Redis: politeness must not hang a fetch.
DEFAULT_REDIS_TIMEOUT_S = 5.0
#: Intervals are stretched by this fraction. Slots are exact, but a request reaches the
#: server a few ms after its slot, differently for each process; without a margin, that
#: jitter could squeeze N+1 requests into one second now and then.
SAFETY_MARGIN = 0.02
#: After Redis (or the schedule file) failed, use the in-process schedule for this long
#: before trying again.
DEFAULT_REDIS_RETRY_S = 10.0
#: File name of the shared schedule in the data dir (embedded mode).
DEFAULT_SCHEDULE_FILE = "host-rate.sqlite"
#: How long a process waits for another one holding the schedule file's lock.
DEFAULT_FILE_LOCK_TIMEOUT_S = 5.0
#: Attempts at the schedule file before falling back to the in-process schedule.
DEFAULT_FILE_ATTEMPTS = 3
#: A stored slot further than this in the future cannot come from a live schedule (the wall
#: clock went back, or the file outlived a reboot): it is ignored rather than obeyed.
DEFAULT_FILE_STALE_S = 3600.0

# KEYS[1]: start of the host's last slot (µs since epoch, Redis clock). ARGV[1]: interval
# µs. ARGV[2]: max wait µs. Returns {1, wait_us} when a slot was taken, {0, wait_us} when
# the wait would exceed the max (nothing changed). Redis >= 5 replicates effects, so TIME
# may precede the write.
_TAKE_SLOT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(last + interval, now)
local wait = slot - now
if wait > max_wait then
  return {0, wait}
end
local ttl_ms = math.ceil((wait + interval) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', slot), 'PX', ttl_ms)
return {1, wait}
"""


class HostBusy(Exception):
    """The host's next free slot is further away than the limiter's ``max_wait_s``."""

    def __init__(self, host: str, wait_s: float) -> None:
        super().__init__(f"{host}: next request slot in {wait_s:.1f}s")
        self.host = host
        self.wait_s = wait_s


class HostRateLimiter:
    """A schedule per host; see the module docstring. Thread- and process-safe.

    ``rate_per_s <= 0`` disables the per-host rate (a ``min_interval_s`` still applies).
    ``redis_url`` shares the schedule through Redis, else ``schedule_path`` through a SQLite
    file (processes of one machine), else it is this instance's own. One instance can be
    shared by many Fetchers.
    """

    def __init__(
        self,
        rate_per_s: float,
        *,
        redis_url: str | None = None,
        schedule_path: Path | None = None,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        key_prefix: str = DEFAULT_KEY_PREFIX,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.max_wait_s = max_wait_s
        self._key_prefix = key_prefix
        self._local = _LocalSchedules()
        self._file = _FileSchedules(schedule_path) if schedule_path and not redis_url else None
        self._redis: redis.Redis | None = None
        self._redis_retry_at = 0.0
        self._script: Any = None
        if redis_url:
            self._redis = redis.Redis.from_url(
                redis_url,
                socket_timeout=DEFAULT_REDIS_TIMEOUT_S,
                socket_connect_timeout=DEFAULT_REDIS_TIMEOUT_S,
            )
            self._script = self._redis.register_script(_TAKE_SLOT_LUA)

    @classmethod
    def from_settings(cls, settings: Settings) -> HostRateLimiter:
        """Shared through ``settings.redis_url`` when set, else through a file in the data dir."""
        return cls(
            settings.host_rate_per_s,
            redis_url=settings.redis_url,
            schedule_path=None if settings.redis_url else settings.data_dir / DEFAULT_SCHEDULE_FILE,
            max_wait_s=settings.rate_max_wait_s,
        )

    @property
    def shared(self) -> bool:
        """True when the schedule is shared with other processes (Redis or the file)."""
        return self._redis is not None or self._file is not None

    def reserve(self, host: str, *, min_interval_s: float | None = None) -> float:
        """Take the next slot for ``host``; return how many seconds until it starts.

        Raises :class:`HostBusy` (taking nothing) if that is more than ``max_wait_s``.
        ``min_interval_s`` slows this request down further (e.g. robots.txt Crawl-delay).
        """
        if not host:
            return 0.0
        # Taken even when the interval is 0 (limiting off): the slot is still recorded, so
        # a later request with a Crawl-delay is spaced from this one.
        interval = self._interval(min_interval_s)
        if self._redis is not None and time.monotonic() >= self._redis_retry_at:
            try:
                taken, wait_us = self._script(
                    keys=[self._key_prefix + host],
                    args=[math.ceil(interval * 1e6), math.floor(self.max_wait_s * 1e6)],
                )
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # Do not pay a connect timeout on every request while Redis is down.
                self._redis_retry_at = time.monotonic() + DEFAULT_REDIS_RETRY_S
                _warn_fallback(exc)
            else:
                if not taken:
                    raise HostBusy(host, int(wait_us) / 1e6)
                return int(wait_us) / 1e6
        if self._file is not None:
            wait = self._file.take(host, interval, self.max_wait_s)
            if wait is not None:
                return wait
        return self._local.take(host, interval, self.max_wait_s)

    def acquire(self, host: str, *, min_interval_s: float | None = None) -> float:
        """Wait for ``host``'s next slot (see :meth:`reserve`); return the seconds slept."""
        wait = self.reserve(host, min_interval_s=min_interval_s)
        if wait > 0:
            time.sleep(wait)
        return wait

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        if self._file is not None:
            self._file.close()

    def _interval(self, min_interval_s: float | None) -> float:
        interval = 1.0 / self.rate_per_s if self.rate_per_s > 0 else 0.0
        return max(interval, min_interval_s or 0.0) * (1.0 + SAFETY_MARGIN)


class _LocalSchedules:
    """The same slot-taking as the Lua script, in memory (one process, its threads)."""

    # Every so many calls, forget hosts idle for longer than any interval (bounded memory).
    _PRUNE_EVERY = 1024
    _IDLE_S = 3600.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._calls = 0

    def take(self, host: str, interval: float, max_wait: float) -> float:
        with self._lock:
            now = time.monotonic()
            previous = self._last.get(host)
            slot = now if previous is None else max(previous + interval, now)
            wait = slot - now
            if wait > max_wait:
                raise HostBusy(host, wait)
            self._last[host] = slot
            self._calls += 1
            if self._calls % self._PRUNE_EVERY == 0:
                horizon = now - self._IDLE_S
                self._last = {h: t for h, t in self._last.items() if t > horizon}
            return wait


class _FileSchedules:
    """The same slot-taking in a SQLite file, shared by the processes of one machine.

    ``take`` returns ``None`` when the file cannot be used (the caller falls back to its
    in-process schedule). Slots are wall-clock times (``time.time()``): the monotonic clock
    is not comparable across a reboot, and the file may outlive one.
    """

    _PRUNE_EVERY = 1024

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._retry_at = 0.0
        self._calls = 0

    def take(self, host: str, interval: float, max_wait: float) -> float | None:
        if time.monotonic() < self._retry_at:
            return None
        with self._lock:
            for attempt in range(DEFAULT_FILE_ATTEMPTS):
                try:
                    return self._take(self._connection(), host, interval, max_wait)
                except sqlite3.OperationalError as exc:
                    # "database is locked" under heavy contention: a falling back process
                    # would keep its own schedule for a while and break the shared rate,
                    # so try again before giving up on the file.
                    error: sqlite3.Error = exc
                    self._drop_connection()
                    time.sleep(0.01 * (attempt + 1))
                except sqlite3.Error as exc:
                    error = exc
                    break
            self._retry_at = time.monotonic() + DEFAULT_REDIS_RETRY_S
            self._drop_connection()
            _warn_fallback(error, what=f"schedule file {self.path}")
            return None

    def _take(self, conn: sqlite3.Connection, host: str, interval: float, max_wait: float) -> float:
        # BEGIN IMMEDIATE takes the file's write lock before reading, so two processes
        # cannot both read the same "last" and take the same slot.
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            row = conn.execute("SELECT last FROM host_slots WHERE host = ?", (host,)).fetchone()
            previous = float(row[0]) if row else None
            if previous is not None and previous - now > DEFAULT_FILE_STALE_S:
                previous = None
            slot = now if previous is None else max(previous + interval, now)
            wait = slot - now
            if wait > max_wait:
                raise HostBusy(host, wait)
            conn.execute(
                "INSERT INTO host_slots (host, last) VALUES (?, ?)"
                " ON CONFLICT (host) DO UPDATE SET last = excluded.last",
                (host, slot),
            )
            self._calls += 1
            if self._calls % self._PRUNE_EVERY == 0:
                conn.execute(
                    "DELETE FROM host_slots WHERE last < ?", (now - _LocalSchedules._IDLE_S,)
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return wait

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # A connection inherited across fork must not be used by the child: open its own.
        self._conn = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=DEFAULT_FILE_LOCK_TIMEOUT_S,
            isolation_level=None,  # transactions are explicit (BEGIN IMMEDIATE)
            check_same_thread=False,  # guarded by self._lock
        )
        # Switching to WAL needs a moment alone with the file and does not wait for it: when
        # several processes open it at once, one wins and the mode sticks for all of them.
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("PRAGMA journal_mode=WAL")
        # Slots are worth nothing after a crash: no need to wait for the disk.
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS host_slots (host TEXT PRIMARY KEY, last REAL NOT NULL)"
        )
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop_connection()


_last_fallback_warning = 0.0


def _warn_fallback(exc: Exception, *, what: str = "Redis") -> None:
    global _last_fallback_warning
    now = time.monotonic()
    if now - _last_fallback_warning > 60:  # once a minute, not once per request
        _last_fallback_warning = now
        log.warning("%s unreachable for host rate limits, using process-local ones: %s", what, exc)
