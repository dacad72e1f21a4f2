"""Per-host politeness: N requests per second per host, shared by all processes (Redis, or a
SQLite schedule file in embedded mode)."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from multiprocessing.synchronize import Event
from pathlib import Path

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
    limiter = HostRateLimiter(RATE)
    host = f"threads-{time.monotonic_ns()}.test"
    slots: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3):
            # The slot is when the request may start: measured from reserve(), not from a
            # thread's (load-dependent) wake-up.
            now = time.monotonic()
            wait = limiter.reserve(host)
            with lock:
                slots.append(now + wait)
            time.sleep(wait)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots.sort()
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert len(slots) == 12
    assert min(gaps) >= 1 / RATE - 0.005


def test_too_long_a_wait_raises_host_busy_and_takes_nothing() -> None:
    limiter = HostRateLimiter(1.0, max_wait_s=0.5)
    host = f"busy-{time.monotonic_ns()}.test"
    assert limiter.reserve(host) == 0.0
    with pytest.raises(HostBusy) as first:
        limiter.reserve(host)
    with pytest.raises(HostBusy) as second:
        limiter.reserve(host)
    # Nothing was reserved by the refused calls: the wait did not grow.
    assert second.value.wait_s <= first.value.wait_s
    assert 0.5 < first.value.wait_s <= 1.0 * (1 + ratelimit.SAFETY_MARGIN)


def test_fetcher_reports_busy_host_as_transient(
    server: LocalHTTPServer, settings: Settings
) -> None:
    server.add("/a", "a")
    limiter = HostRateLimiter(0.5, max_wait_s=0.2)
    with Fetcher(settings, rate_limiter=limiter) as fetcher:
        fetcher.fetch(server.url("/a"))
        with pytest.raises(TransientFetchError) as info:
            fetcher.fetch(server.url("/a"))
    assert info.value.error_class == "rate_limited"
    assert info.value.retry_after is not None
    assert 1.5 < info.value.retry_after <= 2.0 * (1 + ratelimit.SAFETY_MARGIN)
    assert len(server.requests_to("/a")) == 1


def test_waiting_for_a_slot_does_not_eat_the_deadline(
    server: LocalHTTPServer, settings: Settings
) -> None:
    server.add("/a", "a")
    # 1.2 s between requests, a 1 s total deadline: the wait must not count against it.
    limiter = HostRateLimiter(1 / 1.2)
    with Fetcher(settings.model_copy(update={"total_timeout_s": 1.0}), rate_limiter=limiter) as f:
        f.fetch(server.url("/a"))
        assert f.fetch(server.url("/a")).content == b"a"


def test_limiters_without_shared_schedule_do_not_interfere() -> None:
    # Each in-process limiter has its own schedule: a slow one elsewhere in the process
    # (another test, another Fetcher) cannot make this one's first request wait.
    host = f"mine-{time.monotonic_ns()}.test"
    HostRateLimiter(0.1).reserve(host)
    assert HostRateLimiter(0.5, max_wait_s=0.2).reserve(host) == 0.0


def test_from_settings_uses_the_schedule_file_and_max_wait(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", host_rate_per_s=2.0, rate_max_wait_s=0.25)
    limiter = HostRateLimiter.from_settings(settings)
    assert limiter.shared
    assert limiter.max_wait_s == 0.25
    host = f"file-{time.monotonic_ns()}.test"
    assert limiter.reserve(host) == 0.0
    with pytest.raises(HostBusy):  # next slot 0.5 s away, more than the 0.25 s max wait
        limiter.reserve(host)
    # Another limiter on the same file (another process, in real life) sees the slot taken.
    other = HostRateLimiter.from_settings(settings.model_copy(update={"rate_max_wait_s": 5.0}))
    assert 0.3 < other.reserve(host) <= 0.5 * (1 + ratelimit.SAFETY_MARGIN)
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


@pytest.fixture
def timed_server() -> Iterator[tuple[LocalHTTPServer, list[float]]]:
    arrivals: list[float] = []
    lock = threading.Lock()

    def handle(req: BaseHTTPRequestHandler) -> None:
        with lock:
            arrivals.append(time.monotonic())
        req.send_response(200)
        req.send_header("Content-Length", "2")
        req.end_headers()
        req.wfile.write(b"ok")

    with LocalHTTPServer() as server:
        server.add_handler("/page", handle)
        yield server, arrivals


def _hammer(
    redis_url: str | None, data_dir: Path | None, url: str, ready: Event, go: Event
) -> None:
    settings = Settings(
        allow_private_networks=True,
        host_rate_per_s=RATE,
        redis_url=redis_url,
        connect_timeout_s=5.0,
        read_timeout_s=5.0,
        rate_max_wait_s=60.0,  # this test measures spacing, not give-ups
        **({"data_dir": data_dir} if data_dir else {}),
    )
    if redis_url or data_dir:
        limiter = HostRateLimiter.from_settings(settings)
    else:
        limiter = HostRateLimiter(RATE, max_wait_s=60.0)  # this process's own schedule
    with Fetcher(settings, rate_limiter=limiter) as fetcher:
        ready.set()
        go.wait(30)
        for _ in range(REQUESTS_PER_PROCESS):
            fetcher.fetch(url)


def _run_processes(redis_url: str | None, data_dir: Path | None, url: str) -> None:
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    readies = [context.Event() for _ in range(PROCESSES)]
    processes = [
        context.Process(target=_hammer, args=(redis_url, data_dir, url, ready, go))
        for ready in readies
    ]
    for process in processes:
        process.start()
    try:
        for ready in readies:
            assert ready.wait(60), "a worker process did not start"
        go.set()
        for process in processes:
            process.join(60)
            assert process.exitcode == 0
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()


def _max_in_any_second(arrivals: list[float]) -> int:
    stamps = sorted(arrivals)
    best = 0
    for i, start in enumerate(stamps):
        # 50 ms of slack for scheduling jitter between "slot starts" and "server sees it"
        # (a limiter allowing even 11/s would still put 11 requests in 0.91 s).
        in_window = sum(1 for t in stamps[i:] if t < start + 1.0 - 0.05)
        best = max(best, in_window)
    return best


def test_rate_holds_across_processes_with_redis(
    redis_url: str, timed_server: tuple[LocalHTTPServer, list[float]]
) -> None:
    server, arrivals = timed_server
    _run_processes(redis_url, None, server.url("/page"))
    total = PROCESSES * REQUESTS_PER_PROCESS
    assert len(arrivals) == total
    assert _max_in_any_second(arrivals) <= RATE
    span = max(arrivals) - min(arrivals)
    assert span >= (total - 1) / RATE - 0.1


def test_rate_holds_across_processes_with_the_schedule_file(
    tmp_path: Path, timed_server: tuple[LocalHTTPServer, list[float]]
) -> None:
    # Embedded mode (no Redis): `storywire run --concurrency N` forks N processes; the
    # schedule file in the data dir makes them take turns like Redis would.
    server, arrivals = timed_server
    _run_processes(None, tmp_path / "data", server.url("/page"))
    total = PROCESSES * REQUESTS_PER_PROCESS
    assert len(arrivals) == total
    assert _max_in_any_second(arrivals) <= RATE
    assert max(arrivals) - min(arrivals) >= (total - 1) / RATE - 0.1
    assert (tmp_path / "data" / ratelimit.DEFAULT_SCHEDULE_FILE).is_file()


def test_process_local_limits_are_per_process(
    timed_server: tuple[LocalHTTPServer, list[float]],
) -> None:
    # The control for the tests above: a limiter with neither Redis nor the file keeps its
    # own schedule, so four processes together exceed the rate. This proves the
    # measurement can see a breach.
    server, arrivals = timed_server
    _run_processes(None, None, server.url("/page"))
    assert len(arrivals) == PROCESSES * REQUESTS_PER_PROCESS
    assert _max_in_any_second(arrivals) > RATE
