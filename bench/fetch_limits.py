"""Figures for the HTTP layer: throughput, bomb handling, cross-process politeness.

Run from the repository root::

    .venv/bin/python bench/fetch_limits.py [--requests 500] [--rate 10] [--processes 4]

Prints:
- fetches/s of one Fetcher against the local server (keep-alive, 20 KB page, plain and gzip);
- gzip and brotli bombs (1 GiB of zeros) against the default 10 MiB cap: time to refusal and
  peak Python memory while fetching;
- N processes sharing a Redis rate limit on one host: the largest number of requests the
  server saw in any one-second window (must be <= rate) and the mean gap.
Everything is local (127.0.0.1, a redis-server in a temp dir); nothing needs the network.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler
from multiprocessing.synchronize import Event
from pathlib import Path

import brotli
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.httpserver import LocalHTTPServer
from worker.config import Settings
from worker.fetch import Fetcher, HostRateLimiter, ResponseTooLarge

BOMB_BYTES = 1024 * 1024 * 1024


def _settings(**overrides: object) -> Settings:
    return Settings(allow_private_networks=True, host_rate_per_s=0, **overrides)  # type: ignore[arg-type]


def throughput(requests: int) -> None:
    page = b"<html><body>" + b"<p>Some article text here.</p>" * 700 + b"</body></html>"
    with LocalHTTPServer() as server, Fetcher(_settings()) as fetcher:
        # The test server writes headers and body in two segments; with Nagle on, each
        # response then waits ~40 ms for the client's delayed ACK, which is all one would
        # measure. Real servers coalesce or disable Nagle.
        server._server.RequestHandlerClass.disable_nagle_algorithm = True
        server.add("/plain", page)
        server.add("/gz", gzip.compress(page), headers={"Content-Encoding": "gzip"})
        for path in ("/plain", "/gz"):
            fetcher.fetch(server.url(path))  # warm the connection
            started = time.perf_counter()
            for _ in range(requests):
                fetcher.fetch(server.url(path))
            rate = requests / (time.perf_counter() - started)
            print(f"throughput {path:7s} {len(page) // 1024} KiB page: {rate:7.0f} fetches/s")


def _bomb(kind: str) -> bytes:
    block = bytes(1024 * 1024)
    if kind == "gzip":
        gz = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return b"".join(gz.compress(block) for _ in range(BOMB_BYTES // len(block))) + gz.flush()
    br = brotli.Compressor(quality=5)
    parts = [br.process(block) for _ in range(BOMB_BYTES // len(block))]
    return b"".join(parts) + bytes(br.finish())


def bombs() -> None:
    settings = _settings()
    with LocalHTTPServer() as server, Fetcher(settings) as fetcher:
        for kind, encoding in (("gzip", "gzip"), ("brotli", "br")):
            body = _bomb(kind)
            server.add(f"/{kind}", body, headers={"Content-Encoding": encoding})
            tracemalloc.start()
            started = time.perf_counter()
            try:
                fetcher.fetch(server.url(f"/{kind}"))
                outcome = "NOT REFUSED"
            except ResponseTooLarge:
                outcome = "refused"
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"{kind} bomb: {len(body) / 1024:.0f} KiB -> 1 GiB, cap "
                f"{settings.max_response_bytes // 2**20} MiB: {outcome} in {elapsed * 1000:.0f} ms,"
                f" peak {peak / 2**20:.1f} MiB"
            )


def _hammer(redis_url: str, url: str, rate: float, count: int, ready: Event, go: Event) -> None:
    settings = _settings(redis_url=redis_url)
    limiter = HostRateLimiter(rate, redis_url=redis_url, max_wait_s=120)
    with Fetcher(settings, rate_limiter=limiter) as fetcher:
        ready.set()
        go.wait(60)
        for _ in range(count):
            fetcher.fetch(url)


def politeness(rate: float, processes: int, per_process: int) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        print("politeness: redis-server not installed, skipped")
        return
    arrivals: list[float] = []
    lock = threading.Lock()

    def handle(req: BaseHTTPRequestHandler) -> None:
        with lock:
            arrivals.append(time.monotonic())
        req.send_response(200)
        req.send_header("Content-Length", "2")
        req.end_headers()
        req.wfile.write(b"ok")

    with tempfile.TemporaryDirectory() as tmp, LocalHTTPServer() as server:
        sock = Path(tmp) / "redis.sock"
        redis_proc = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(sock), "--dir", tmp, "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        try:
            url = f"unix://{sock}"
            for _ in range(100):
                try:
                    redis.Redis.from_url(url).ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            server.add_handler("/page", handle)
            ctx = multiprocessing.get_context("spawn")
            go = ctx.Event()
            readies = [ctx.Event() for _ in range(processes)]
            procs = [
                ctx.Process(
                    target=_hammer,
                    args=(url, server.url("/page"), rate, per_process, ready, go),
                )
                for ready in readies
            ]
            for proc in procs:
                proc.start()
            for ready in readies:
                ready.wait(60)
            go.set()
            for proc in procs:
                proc.join()
        finally:
            redis_proc.terminate()
            redis_proc.wait()
    stamps = sorted(arrivals)
    worst = max(sum(1 for t in stamps[i:] if t < s + 1.0) for i, s in enumerate(stamps))
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    print(
        f"politeness: {processes} processes x {per_process} requests, rate {rate:g}/s via Redis: "
        f"max {worst} requests in any 1 s window, mean gap {sum(gaps) / len(gaps) * 1000:.1f} ms, "
        f"min gap {min(gaps) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--per-process", type=int, default=10)
    args = parser.parse_args()
    throughput(args.requests)
    bombs()
    politeness(args.rate, args.processes, args.per_process)


if __name__ == "__main__":
    main()
