"""End-to-end ingestion throughput through a real worker, against trafilatura's own rate.

    python bench/pipeline.py [--feeds 10] [--articles 300] [--concurrency 2]

A local HTTP server serves N feeds linking M article pages (the real pages under
../shared/data/extraction/*/html when present, else generated pages). A real Celery worker
(2 processes by default) on Redis + Postgres (both started here, in temp dirs) ingests them.
In the same run, the same pages go through trafilatura alone (the ceiling: no HTTP, no DB,
no queue), in one process and in as many processes as the worker has. Prints articles/s,
ms/article, the ratio to the ceiling, and peak memory.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import tempfile
import time
from email.utils import format_datetime
from pathlib import Path

from _common import peak_rss_mb, shared_data
from sqlalchemy import func, select

from models import Article, make_engine, utcnow
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import Process, run_cli, storywire_env
from tests.support.services import PostgresServer, RedisServer


def _read_gz(path: Path) -> bytes:
    with gzip.open(path) as fh:
        return fh.read()


def load_pages(limit: int) -> tuple[list[bytes], str]:
    data = shared_data()
    if data is not None:
        files = sorted((data / "extraction").glob("*/html/*.gz"))
        if files:
            pages = [_read_gz(f) for f in files[:limit]]
            return pages, f"{len(pages)} real pages from {data / 'extraction'}"
    print("note: ../shared/data not found (set STORYWIRE_SHARED_DATA); using generated pages")
    pages = []
    for i in range(limit):
        paragraphs = "".join(
            f"<p>Paragraph {j} of generated article {i}: the council met on Tuesday to discuss "
            f"the harbour budget, item {i * 31 + j}, and residents asked questions.</p>"
            for j in range(12)
        )
        pages.append(
            f"<html><head><title>Article {i}</title></head><body><nav>Home | News</nav>"
            f"<article><h1>Article {i}</h1>{paragraphs}</article></body></html>".encode()
        )
    return pages, f"{len(pages)} generated pages"


def _extract_one(html: bytes) -> int:
    import trafilatura

    doc = trafilatura.bare_extraction(html, with_metadata=True, favor_precision=True)
    return 0 if doc is None else 1


def ceiling(pages: list[bytes], processes: int) -> float:
    started = time.perf_counter()
    if processes == 1:
        for page in pages:
            _extract_one(page)
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pool.map(_extract_one, pages, chunksize=4)
    return len(pages) / (time.perf_counter() - started)


def serve(server: LocalHTTPServer, pages: list[bytes], feeds: int) -> list[str]:
    per_feed: list[list[str]] = [[] for _ in range(feeds)]
    for i, page in enumerate(pages):
        path = f"/a/{i}.html"
        server.add(path, page)
        per_feed[i % feeds].append(server.url(path))
    urls = []
    now = format_datetime(utcnow())
    for f, links in enumerate(per_feed):
        items = "".join(
            f"<item><title>Item {k}</title><link>{link}</link><guid>{link}</guid>"
            f"<pubDate>{now}</pubDate></item>"
            for k, link in enumerate(links)
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>F{f}</title>{items}'
        server.add(f"/feed{f}.xml", body + "</channel></rss>", content_type="application/rss+xml")
        urls.append(server.url(f"/feed{f}.xml"))
    return urls


def pipeline_rate(pages: list[bytes], feeds: int, concurrency: int) -> tuple[float, int, float]:
    tmp = Path(tempfile.mkdtemp(prefix="storywire-bench-"))
    with RedisServer() as redis_server, PostgresServer() as pg, LocalHTTPServer() as http:
        db_url = pg.create_database()
        env = storywire_env(
            DATABASE_URL=db_url,
            REDIS_URL=redis_server.url,
            STORYWIRE_DATA_DIR=str(tmp),
            STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
            # One host serves everything here: the politeness limit would measure itself.
            STORYWIRE_HOST_RATE_PER_S="100000",
            STORYWIRE_DISPATCH_INTERVAL_S="1",
            STORYWIRE_DISPATCH_PER_HOST=str(feeds),
            STORYWIRE_LOG_LEVEL="WARNING",
        )
        run_cli(["db", "upgrade"], env)
        run_cli(["feeds", "add", *serve(http, pages, feeds)], env)
        engine = make_engine(db_url)
        total = len(pages)
        done_q = select(func.count()).select_from(Article).where(Article.status != "pending")
        worker = Process(["worker", "--concurrency", str(concurrency)], env, tmp / "worker.log")
        # Warm-up excluded: the clock starts at the first stored stub, when beat has dispatched.
        beat = Process(["beat"], env, tmp / "beat.log")
        try:
            while True:
                with engine.connect() as c:
                    if c.execute(select(func.count()).select_from(Article)).scalar_one():
                        break
                time.sleep(0.05)
            started = time.perf_counter()
            deadline = started + 1800
            done = 0
            while time.perf_counter() < deadline:
                with engine.connect() as c:
                    done = int(c.execute(done_q).scalar_one())
                if done >= total:
                    break
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
            with engine.connect() as c:
                ok = int(
                    c.execute(
                        select(func.count()).select_from(Article).where(Article.status == "ok")
                    ).scalar_one()
                )
        finally:
            beat.stop()
            worker.stop()
            engine.dispose()
        return done / elapsed, ok, peak_rss_mb(children=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    pages, origin = load_pages(args.articles)
    print(f"pages: {origin}")
    one = ceiling(pages, 1)
    many = ceiling(pages, args.concurrency)
    rate, ok, rss = pipeline_rate(pages, args.feeds, args.concurrency)
    print(f"trafilatura alone, 1 process:   {one:8.1f} articles/s  ({1000 / one:6.1f} ms/article)")
    print(
        f"trafilatura alone, {args.concurrency} processes: {many:8.1f} articles/s  "
        f"({1000 / many:6.1f} ms/article)   <- ceiling"
    )
    print(
        f"storywire end to end, {args.concurrency} worker processes (Redis + Postgres): "
        f"{rate:8.1f} articles/s  ({1000 / rate:6.1f} ms/article), {ok}/{len(pages)} extracted ok"
    )
    print(f"ratio to ceiling: {rate / many:.2f}   (to 1-process trafilatura: {rate / one:.2f})")
    print(f"peak RSS: bench {peak_rss_mb():.0f} MB, largest child process {rss:.0f} MB")


if __name__ == "__main__":
    main()
