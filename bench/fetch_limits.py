"""Figures for the HTTP layer: throughput, bomb handling, cross-process politeness.

Run from the repository root::

    .venv/bin/python bench/fetch_limits.py [--requests 500] [--rate 10] [--processes 4]

Prints:
- fetches/s of one Fetcher against the local server (keep-alive, 20 KB page, plain and gzip);
- gzip and brotli bombs (1 GiB of zeros) against the default 10 MiB cap: time to refusal and
  peak Python memory while fetching;
- N processes sharing a Redis rate limit on one host: the largest number of requests the
  server saw in any one-second window (must be <= rate) and the mean gap;
- one ``storywire fetch --inline`` of a feed linking a 9.5 MB page of 400,000 links (under
  the 10 MiB cap): its wall time and the peak RSS of that process, next to the same command
  on a feed linking an ordinary article page (the reference, same run).
  ``--without-precheck`` also runs it with the element limit lifted (the old behaviour:
  expect ~1.6 GB and over a minute);
- the element pre-check over every page of ../shared/data/extraction: pages refused (must
  be 0) and the largest element count.
Everything is local (127.0.0.1, a redis-server in a temp dir); nothing needs the network.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import multiprocessing
import os
import re
import shutil
import sqlite3
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

from _common import shared_data

from tests.support.httpserver import LocalHTTPServer
from worker.config import Settings
from worker.extract import ExtractionError, extract_page
from worker.extract.page import DEFAULT_MAX_ELEMENTS
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


LINK_FARM_LINKS = 400_000
# The CLI with the element limit lifted: what a page cost before the pre-check.
_NO_PRECHECK = (
    "import sys, worker.extract.page as page; page.DEFAULT_MAX_ELEMENTS = 10**12; "
    "sys.argv[0] = 'storywire'; from worker.cli import main; main()"
)


def link_farm() -> bytes:
    anchors = b"".join(b"<a href=/%x>%x</a>\n" % (i, i) for i in range(LINK_FARM_LINKS))
    return b"<html><head><title>Index</title></head><body>" + anchors + b"</body></html>"


def _ordinary_page() -> bytes:
    text = "".join(
        f"<p>Paragraph {i} of the council's report on the new cycle lanes along the river, "
        "with the costs, the timetable and what residents said at the hearing.</p>"
        for i in range(40)
    )
    return (
        f"<html><head><title>Cycle lanes</title></head><body><article><h1>Lanes</h1>{text}"
        "</article></body></html>".encode()
    )


def _timed_cli(args: list[str], env: dict[str, str], program: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of one storywire command, run to completion."""
    started = time.perf_counter()
    proc = subprocess.Popen([*program, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"storywire {args} exited with {proc.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def pathological_page(without_precheck: bool) -> None:
    cli = [sys.executable, "-m", "worker"]
    runs = [("ordinary page (reference)", "/ordinary.html", cli),
            ("400,000-link page", "/farm.html", cli)]  # fmt: skip
    if without_precheck:
        runs.append(("400,000-link page, no pre-check", "/farm2.html",
                     [sys.executable, "-c", _NO_PRECHECK]))  # fmt: skip
    farm = link_farm()
    with tempfile.TemporaryDirectory() as tmp, LocalHTTPServer() as server:
        server.add("/ordinary.html", _ordinary_page())
        for path in ("/farm.html", "/farm2.html"):
            server.add(path, farm)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STORYWIRE_")},
            "STORYWIRE_DATA_DIR": tmp,
            "STORYWIRE_ALLOW_PRIVATE_NETWORKS": "1",
            "STORYWIRE_HOST_RATE_PER_S": "1000",
            "STORYWIRE_OBEY_ROBOTS": "0",
        }
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        for label, path, program in runs:
            feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                    f"<item><title>{label}</title><link>{server.url(path)}</link></item>"
                    "</channel></rss>")  # fmt: skip
            server.add(f"{path}.xml", feed, content_type="application/rss+xml")
            subprocess.run([*cli, "feeds", "add", server.url(f"{path}.xml")], env=env,
                           check=True, capture_output=True)  # fmt: skip
            seconds, peak = _timed_cli(["fetch", "--inline", server.url(f"{path}.xml")], env,
                                       program)  # fmt: skip
            print(f"fetch --inline, {label} ({len(server.routes[path].body) / 2**20:.1f} MiB):"  # type: ignore[union-attr]
                  f" {seconds:5.1f} s, peak RSS {peak:6.0f} MB")  # fmt: skip
        db = Path(tmp) / "storywire.db"
        with sqlite3.connect(db) as conn:
            for url, status, error_class in conn.execute(
                "SELECT url, status, error_class FROM articles ORDER BY id"
            ):
                print(f"  {url.rsplit('/', 1)[-1]}: {status} {error_class or ''}")


def precheck_on_corpora() -> None:
    data = shared_data()
    if data is None:
        print("pre-check on the corpora: ../shared/data not found, skipped")
        return
    pages = refused = largest = 0
    for path in sorted((data / "extraction").rglob("*.gz")):
        html = gzip.decompress(path.read_bytes())
        pages += 1
        largest = max(largest, len(re.findall(rb"<[A-Za-z]", html)))
        try:
            extract_page(html, url="https://example.com/a", content_type="text/html")
        except ExtractionError as exc:
            refused += exc.error_class == "too_complex"
    print(f"pre-check on the corpora: {refused} of {pages} pages refused as too_complex "
          f"(largest {largest:,} elements, limit {DEFAULT_MAX_ELEMENTS:,})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--per-process", type=int, default=10)
    parser.add_argument("--without-precheck", action="store_true")
    parser.add_argument("--only-pages", action="store_true", help="the page sections only")
    args = parser.parse_args()
    if not args.only_pages:
        throughput(args.requests)
        bombs()
        politeness(args.rate, args.processes, args.per_process)
    pathological_page(args.without_precheck)
    precheck_on_corpora()


if __name__ == "__main__":
    main()
