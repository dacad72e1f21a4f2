"""Per-host politeness: N requests per second per host, shared by all processes (Redis, or a
SQLite schedule file in embedded mode)."""

from __future__ import annotations

import logging
import math
import multiprocessing
import sqlite3
import threading
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

from tests.support.httpserver import LocalHTTPServer
from worker.config import Settings
from worker.fetch import Fetcher, HostBusy, HostRateLimiter, TransientFetchError, ratelimit

RATE = 10.0  # requests per second per host
PROCESSES = 4
REQUESTS_PER_PROCESS = 8


def test_local_limiter_spaces_one_host() -> None:
    limiter = HostRateLimiter(RATE)
    host = f"local-{time.monotonic_ns()}.test"
    started = time.monotonic()
    waits = [limiter.acquire(host) for _ in range(6)]
    elapsed = time.monotonic() - started
    assert waits[0] == 0.0
    assert elapsed >= 5 / RATE - 0.01
    # Another host is not slowed by the first one's queue.
    assert limiter.acquire(f"other-{host}") == 0.0


def test_local_limiter_threads_share_the_schedule() -> None:
    limiter = _Recording(RATE)
    host = f"threads-{time.monotonic_ns()}.test"

    def work() -> None:
        for _ in range(3):
            time.sleep(limiter.reserve(host))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(limiter.grants) == 12
    assert _tightest(limiter.grants, 2) >= 1 / RATE


# Slots 100 s apart and waits of at most 50 s below: whatever the machine's load between two
# calls, the second one finds the next slot too far away.
SLOW_RATE = 0.01


def test_too_long_a_wait_raises_host_busy_and_takes_nothing() -> None:
    limiter = HostRateLimiter(SLOW_RATE, max_wait_s=50)
    host = f"busy-{time.monotonic_ns()}.test"
    assert limiter.reserve(host) == 0.0
    with pytest.raises(HostBusy) as first:
        limiter.reserve(host)
    with pytest.raises(HostBusy) as second:
        limiter.reserve(host)
    # Nothing was reserved by the refused calls: the wait did not grow.
    assert second.value.wait_s <= first.value.wait_s
    assert 50 < first.value.wait_s <= 100 * (1 + ratelimit.SAFETY_MARGIN)


def test_fetcher_reports_busy_host_as_transient(
    server: LocalHTTPServer, settings: Settings
) -> None:
    server.add("/a", "a")
    limiter = HostRateLimiter(SLOW_RATE, max_wait_s=0.2)
    with Fetcher(settings, rate_limiter=limiter) as fetcher:
        fetcher.fetch(server.url("/a"))
        with pytest.raises(TransientFetchError) as info:
            fetcher.fetch(server.url("/a"))
    assert info.value.error_class == "rate_limited"
    assert info.value.retry_after is not None
    assert 50 < info.value.retry_after <= 100 * (1 + ratelimit.SAFETY_MARGIN)
    assert len(server.requests_to("/a")) == 1


def test_waiting_for_a_slot_does_not_eat_the_deadline(
    server: LocalHTTPServer, settings: Settings
) -> None:
    server.add("/a", "a")
    # A slot 5.5 s away, a 5 s total deadline: counted against the deadline, the wait would
    # leave nothing for the request. (5 s: what the request itself may take on a busy machine.)
    limiter = HostRateLimiter(1 / 5.5)
    assert limiter.reserve("127.0.0.1") == 0.0
    with Fetcher(settings.model_copy(update={"total_timeout_s": 5.0}), rate_limiter=limiter) as f:
        response = f.fetch(server.url("/a"))
    assert response.content == b"a"


def test_limiters_without_shared_schedule_do_not_interfere() -> None:
    # Each in-process limiter has its own schedule: a slow one elsewhere in the process
    # (another test, another Fetcher) cannot make this one's first request wait.
    host = f"mine-{time.monotonic_ns()}.test"
    HostRateLimiter(0.1).reserve(host)
    assert HostRateLimiter(0.5, max_wait_s=0.2).reserve(host) == 0.0


def test_from_settings_uses_the_schedule_file_and_max_wait(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", host_rate_per_s=SLOW_RATE, rate_max_wait_s=50)
    limiter = HostRateLimiter.from_settings(settings)
    assert limiter.shared
    assert limiter.max_wait_s == 50
    host = f"file-{time.monotonic_ns()}.test"
    assert limiter.reserve(host) == 0.0
    with pytest.raises(HostBusy):  # next slot 100 s away, more than the 50 s max wait
        limiter.reserve(host)
    # Another limiter on the same file (another process, in real life) sees the slot taken.
    other = HostRateLimiter.from_settings(settings.model_copy(update={"rate_max_wait_s": 500}))
    assert 50 < other.reserve(host) <= 100 * (1 + ratelimit.SAFETY_MARGIN)
    limiter.close()
    other.close()


def test_schedule_file_ignores_slots_from_a_clock_that_went_back(tmp_path: Path) -> None:
    path = tmp_path / "host-rate.sqlite"
    limiter = HostRateLimiter(1.0, schedule_path=path, max_wait_s=1.0)
    limiter.reserve("warm.test")  # creates the file
    with sqlite3.connect(path) as conn:  # a slot two hours ahead: written before a clock jump
        conn.execute(
            "INSERT INTO host_slots (host, last) VALUES (?, ?)", ("jump.test", time.time() + 7200)
        )
    assert limiter.reserve("jump.test") == 0.0
    limiter.close()


def test_unusable_schedule_file_falls_back_to_process_schedule(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "_last_fallback_warning", 0.0)
    path = tmp_path / "not-a-database"
    path.write_bytes(b"this is not SQLite" * 100)
    limiter = HostRateLimiter(RATE, schedule_path=path)
    host = f"broken-{time.monotonic_ns()}.test"
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="worker.fetch.ratelimit"):
        for _ in range(4):
            limiter.acquire(host)
    assert time.monotonic() - started >= 3 / RATE - 0.01  # still spaced, in process
    assert "schedule file" in caplog.text
    limiter.close()


def test_redis_limiter_spaces_requests(redis_url: str) -> None:
    limiter = HostRateLimiter(RATE, redis_url=redis_url)
    assert limiter.shared
    host = f"redis-{time.monotonic_ns()}.test"
    started = time.monotonic()
    for _ in range(6):
        limiter.acquire(host)
    assert time.monotonic() - started >= 5 / RATE - 0.01
    limiter.close()


def test_redis_unreachable_falls_back_to_local(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, dead_port: int
) -> None:
    monkeypatch.setattr(ratelimit, "_last_fallback_warning", 0.0)
    limiter = HostRateLimiter(RATE, redis_url=f"redis://127.0.0.1:{dead_port}/0")
    host = f"fallback-{time.monotonic_ns()}.test"
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="worker.fetch.ratelimit"):
        for _ in range(4):
            limiter.acquire(host)
    assert time.monotonic() - started >= 3 / RATE - 0.01
    assert caplog.text.count("Redis unreachable") == 1


# --- many processes, one host ----------------------------------------------------------------
#
# What is checked is what the limiters GRANTED, not when the server saw the requests: requests
# sent on spaced slots can arrive bunched on a busy machine, which says nothing about the
# limiter. Each grant is known to within the reserve() call that made it (see _Recording); a
# breach is proven when RATE + 1 grants fit in less than a second whatever their exact times.

Grant = tuple[float, float]  # earliest and latest time the granted slot can be at


class _Recording(HostRateLimiter):
    """A HostRateLimiter that records each slot it grants, on the monotonic clock.

    The slot is ``now + wait`` for the ``now`` the limiter read (its own clock: Redis's, the
    file's wall clock, or this process's) between the readings taken just before and just
    after the call: ``(before + wait, after + wait)`` brackets it. A busy machine widens the
    bracket, which only makes the checks below more lenient, never wrong."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grants: list[Grant] = []
        self._grants_lock = threading.Lock()

    def reserve(self, host: str, *, min_interval_s: float | None = None) -> float:
        before = time.monotonic()
        wait = super().reserve(host, min_interval_s=min_interval_s)
        after = time.monotonic()
        with self._grants_lock:
            self.grants.append((before + wait, after + wait))
        return wait


def _tightest(grants: list[Grant], count: int) -> float:
    """How long the tightest ``count`` grants may span at most: the least, over every group
    of ``count``, of its latest possible slot minus its earliest possible one.

    With slots at least ``1 / RATE`` apart, any ``count`` of them span at least
    ``(count - 1) / RATE``, and this bound with them; less proves the spacing was broken.
    """
    best = math.inf
    for earliest, _ in grants:
        latest = sorted(hi for lo, hi in grants if lo >= earliest)
        if len(latest) >= count:
            best = min(best, latest[count - 1] - earliest)
    return best


def test_tightest_proves_only_what_the_brackets_allow() -> None:
    spaced = [(i * 0.1, i * 0.1 + 0.05) for i in range(12)]
    assert _tightest(spaced, 11) == pytest.approx(1.05)  # no proof of a breach
    bunched = [(i * 0.05, i * 0.05 + 0.001) for i in range(12)]
    assert _tightest(bunched, 11) == pytest.approx(0.501)  # 11 grants in half a second
    assert _tightest(bunched[:5], 11) == math.inf


def _hammer(
    redis_url: str | None,
    data_dir: Path | None,
    url: str,
    requests: int,
    fetch: bool,
    ready: Event,
    go: Event,
    grants: Queue[list[Grant]],
) -> None:
    settings = Settings(
        allow_private_networks=True,
        host_rate_per_s=RATE,
        redis_url=redis_url,
        connect_timeout_s=60.0,
        read_timeout_s=60.0,
        total_timeout_s=600.0,
        rate_max_wait_s=600.0,  # this test checks spacing, not give-ups
        **({"data_dir": data_dir} if data_dir else {}),
    )
    if redis_url or data_dir:
        limiter = _Recording.from_settings(settings)
    else:
        limiter = _Recording(RATE, max_wait_s=600.0)  # this process's own schedule
    assert isinstance(limiter, _Recording)
    with Fetcher(settings, rate_limiter=limiter) as fetcher:
        ready.set()
        go.wait(120)
        for _ in range(requests):
            if fetch:
                fetcher.fetch(url)
            else:  # only what the limiter grants: a slow request cannot space the grants
                time.sleep(limiter.reserve("127.0.0.1"))
    grants.put(limiter.grants)


def _run_processes(
    redis_url: str | None,
    data_dir: Path | None,
    url: str,
    requests: int = REQUESTS_PER_PROCESS,
    *,
    fetch: bool = True,
) -> list[Grant]:
    """Every grant of PROCESSES processes sending ``requests`` each, once all have started
    (``fetch=False``: taking the grants without sending the requests)."""
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    readies = [context.Event() for _ in range(PROCESSES)]
    results: Queue[list[Grant]] = context.Queue()
    processes = [
        context.Process(
            target=_hammer, args=(redis_url, data_dir, url, requests, fetch, ready, go, results)
        )
        for ready in readies
    ]
    for process in processes:
        process.start()
    try:
        for ready in readies:
            assert ready.wait(120), "a worker process did not start"
        go.set()
        grants = [grant for _ in processes for grant in results.get(timeout=300)]
        for process in processes:
            process.join(120)
            assert process.exitcode == 0
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(10)
    return grants


@pytest.fixture
def page(server: LocalHTTPServer) -> str:
    server.add("/page", "ok", content_type="text/plain")
    return server.url("/page")


def test_rate_holds_across_processes_with_redis(
    redis_url: str, server: LocalHTTPServer, page: str
) -> None:
    grants = _run_processes(redis_url, None, page)
    total = PROCESSES * REQUESTS_PER_PROCESS
    assert len(grants) == len(server.requests_to("/page")) == total
    assert _tightest(grants, int(RATE) + 1) >= 1.0  # never RATE + 1 in under a second
    assert _tightest(grants, 2) >= 1 / RATE  # each one spaced from the one before


def test_rate_holds_across_processes_with_the_schedule_file(
    tmp_path: Path, server: LocalHTTPServer, page: str
) -> None:
    # Embedded mode (no Redis): `storywire run --concurrency N` forks N processes; the
    # schedule file in the data dir makes them take turns like Redis would.
    grants = _run_processes(None, tmp_path / "data", page)
    total = PROCESSES * REQUESTS_PER_PROCESS
    assert len(grants) == len(server.requests_to("/page")) == total
    assert _tightest(grants, int(RATE) + 1) >= 1.0
    assert _tightest(grants, 2) >= 1 / RATE
    assert (tmp_path / "data" / ratelimit.DEFAULT_SCHEDULE_FILE).is_file()


def test_process_local_limits_are_per_process(server: LocalHTTPServer, page: str) -> None:
    # The control for the tests above: a limiter with neither Redis nor the file keeps its
    # own schedule, so four processes together exceed the rate, and the check proves it.
    # Two seconds of grants each: two processes overlap for far longer than the second
    # the proof needs, however unevenly a busy machine starts them. No request is sent: a
    # slow one after each grant would space a process's grants wider than its limiter does.
    grants = _run_processes(None, None, page, requests=20, fetch=False)
    assert len(grants) == PROCESSES * 20
    assert server.requests_to("/page") == []
    assert _tightest(grants, int(RATE) + 1) < 1.0
