"""Every file of the shared feed corpus, served over HTTP and ingested by the real pipeline.

Usage::

    .venv/bin/python bench/feeds_corpus.py [--data DIR] [--limit N] [--postgres]
                                           [--worker [--concurrency 2]] [--show-errors]
    .venv/bin/python bench/feeds_corpus.py --fetch-inline [--concurrency 8]

The corpus (feedparser's, gofeed's and miniflux's test inputs: ../shared/data/feeds, or
$STORYWIRE_SHARED_DATA/feeds) is read in place, never copied. Each file is served by the
local HTTP server (with the ``Header: Content-Type`` its leading comment names, if any)
and registered as a feed; then every feed is refreshed:

- default: ``refresh_feed`` in this process, one feed after the other, over a real SQLite
  database (``--postgres``: a PostgreSQL started in a temp dir);
- ``--worker``: a real Celery worker and beat (Redis started in a temp dir) poll them all.

``--fetch-inline`` is the one-off fetch of real feeds whose article hosts cannot be reached:
the corpus files whose entries link to pages elsewhere than this machine, each served from its
own loopback address (127.0.0.2, 127.0.0.3, ...: one host per feed, as on the web), go
through ``storywire fetch --all --inline --concurrency N`` with the default politeness (1
request per second per host) on the embedded database. That process resolves no name but
loopback ones (``bench/_offline.py``): every article host fails at DNS, and nothing leaves the
machine. Prints the time, the entries and what became of each article (extracted, failed,
pending by reason); exits 1 unless every entry is accounted for (an article row per entry,
each one final or pending with its reason).

Prints counts by outcome (ok, bozo-but-usable, error class), entries and stubs stored,
time, peak memory, and the number of crashes (an exception out of the pipeline, or a feed
left without a fetch record) and of worker restarts (a pool process lost). Exits 1 if
either is not zero.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import quote

from _common import peak_rss_mb, shared_data
from sqlalchemy import func, select

from models import (
    Article,
    ArticleSource,
    Feed,
    FeedFetch,
    HostHealth,
    make_engine,
    session_scope,
)
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import Process, run_cli, storywire_env
from tests.support.services import PostgresServer, RedisServer, migrate
from worker.config import Settings
from worker.feeds import parse_feed
from worker.pipeline import refresh_feed
from worker.resources import build_resources
from worker.store import add_feed
from worker.urls import host_of

_HEADER_RE = re.compile(rb"^\s*Header:\s*Content-type:\s*(.+?)\s*$", re.I | re.M)
_BY_SUFFIX = {".json": "application/json", ".html": "text/html", ".xml": "application/xml"}
#: Signs in a worker log that a pool process died or was replaced.
_RESTART_SIGNS = ("WorkerLostError", "exited with", "Restarting pool process")


def corpus_files(root: Path, limit: int) -> list[Path]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() != ".md")
    return files[:limit] if limit else files


def content_type_of(path: Path, data: bytes) -> str:
    header = _HEADER_RE.search(data[:2048])
    if header:
        return header.group(1).decode("latin-1")
    return _BY_SUFFIX.get(path.suffix.lower(), "application/octet-stream")


def serve(server: LocalHTTPServer, root: Path, files: list[Path]) -> dict[str, Path]:
    """Publish every file; returns {feed URL: file}."""
    urls: dict[str, Path] = {}
    for path in files:
        data = path.read_bytes()
        route = "/" + quote(path.relative_to(root).as_posix())
        server.add(route, data, content_type=content_type_of(path, data))
        urls[server.url(route)] = path
    return urls


def settings_for(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        allow_private_networks=True,  # the corpus is served from 127.0.0.1
        host_rate_per_s=0,  # one local host serves everything: do not measure politeness
    )


@contextmanager
def database(tmp: Path, postgres: bool) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{tmp / 'corpus.db'}"
        return
    with PostgresServer() as pg:
        yield pg.create_database()


def register(url: str, feeds: dict[str, Path], data_dir: Path) -> dict[int, Path]:
    """Add every feed; returns {feed id: file}. URLs that do not register are reported."""
    rt = build_resources(settings_for(data_dir, url))
    by_id: dict[int, Path] = {}
    with session_scope(rt.sessions) as session:
        for feed_url, path in feeds.items():
            try:
                by_id[add_feed(session, feed_url)[0].id] = path
            except ValueError as exc:
                print(f"  not registered: {path}: {exc}")
    rt.close()
    return by_id


def ingest_in_process(url: str, by_id: dict[int, Path], data_dir: Path) -> list[str]:
    """refresh_feed for every feed; returns the crashes (tracebacks)."""
    rt = build_resources(settings_for(data_dir, url))
    crashes: list[str] = []
    try:
        for done, (feed_id, path) in enumerate(by_id.items(), 1):
            try:
                refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id)
            except Exception:  # this is what we are counting
                crashes.append(f"{path}\n{traceback.format_exc(limit=4)}")
            if done % 500 == 0:
                print(f"  {done}/{len(by_id)} feeds refreshed", flush=True)
    finally:
        rt.close()
    return crashes


def ingest_with_worker(url: str, by_id: dict[int, Path], tmp: Path, concurrency: int) -> int:
    """A real worker and beat poll every feed once; returns the pool restarts seen."""
    with RedisServer() as redis_server:
        env = storywire_env(
            DATABASE_URL=url,
            REDIS_URL=redis_server.url,
            STORYWIRE_DATA_DIR=str(tmp / "data"),
            STORYWIRE_AUTO_MIGRATE="0",
            STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
            STORYWIRE_HOST_RATE_PER_S="0",
            STORYWIRE_DISPATCH_INTERVAL_S="1",
            STORYWIRE_DISPATCH_PER_HOST="500",
            STORYWIRE_DISPATCH_BATCH="500",
            STORYWIRE_LOG_LEVEL="WARNING",
        )
        run_cli(["db", "current"], env)
        engine = make_engine(url)
        worker = Process(
            ["worker", "--concurrency", str(concurrency), "--queues", "feeds"],
            env,
            tmp / "worker.log",
        )
        beat = Process(["beat"], env, tmp / "beat.log")
        fetched = select(func.count(func.distinct(FeedFetch.feed_id)))
        try:
            deadline = time.monotonic() + 3600
            last_report = 0
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    done = int(conn.execute(fetched).scalar_one())
                if done >= len(by_id):
                    break
                if not worker.alive() or not beat.alive():
                    print("  a worker or beat process exited")
                    break
                if done - last_report >= 500:
                    print(f"  {done}/{len(by_id)} feeds fetched", flush=True)
                    last_report = done
                time.sleep(0.5)
        finally:
            beat.stop()
            worker.stop()
            engine.dispose()
        log = worker.output()
        return sum(log.count(sign) for sign in _RESTART_SIGNS)


def outcomes(
    url: str, by_id: dict[int, Path], root: Path
) -> tuple[
    collections.Counter[str], dict[str, collections.Counter[str]], list[str], list[Path], int, int
]:
    """Outcome of each feed's first fetch, from the database: the record the worker left."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(FeedFetch.feed_id, FeedFetch.outcome, FeedFetch.error_class,
                   FeedFetch.error_message, FeedFetch.entries_seen)
            .order_by(FeedFetch.id)
        ).all()  # fmt: skip
        stubs = int(conn.execute(select(func.count()).select_from(Article)).scalar_one())
        unfetched_ids = set(by_id) - set(
            conn.execute(select(Feed.id).where(Feed.last_fetched_at.is_not(None))).scalars()
        )
    engine.dispose()
    first: dict[int, tuple[str, str | None, str | None, int | None]] = {}
    for feed_id, outcome, error_class, message, seen in rows:
        first.setdefault(int(feed_id), (outcome, error_class, message, seen))
    counts: collections.Counter[str] = collections.Counter()
    by_folder: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    errors: list[str] = []
    entries = 0
    for feed_id, path in by_id.items():
        if feed_id not in first:
            continue
        outcome, error_class, message, seen = first[feed_id]
        entries += seen or 0
        label = {"ok": "ok", "bozo": "bozo-but-usable"}.get(outcome, f"{outcome}:{error_class}")
        counts[label] += 1
        rel = path.relative_to(root)
        by_folder[f"{rel.parts[0]} {path.suffix.lower()}"][label] += 1
        if error_class:
            errors.append(f"{rel}: {error_class}: {(message or '')[:140]}")
    unfetched = [by_id[i] for i in sorted(unfetched_ids)]
    return counts, by_folder, errors, unfetched, entries, stubs


def linking_elsewhere(files: list[Path]) -> list[Path]:
    """The files whose entries link to article pages on some host other than this machine."""
    chosen = []
    for path in files:
        try:
            parsed = parse_feed(path.read_bytes(), url="http://127.0.0.1/feed", content_type=None)
        except Exception:  # not a usable feed: not part of this case
            continue
        hosts = {host_of(e.link) for e in parsed.entries if e.link}
        if hosts - {"", "127.0.0.1", "localhost"}:
            chosen.append(path)
    return chosen


def fetch_inline(root: Path, files: list[Path], concurrency: int) -> int:
    chosen = linking_elsewhere(files)
    print(f"feeds linking to pages elsewhere: {len(chosen)} of {len(files)} files")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="storywire-fetch-")))
        urls = []
        for i, path in enumerate(chosen):
            # One loopback address per feed: each feed its own host, as on the web.
            address = f"127.0.{i // 250}.{i % 250 + 2}"
            server = stack.enter_context(LocalHTTPServer(address))
            urls.extend(serve(server, root, [path]))
        env = storywire_env(
            STORYWIRE_DATA_DIR=str(tmp / "data"),
            STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
            STORYWIRE_LOG_LEVEL="WARNING",
        )
        run_cli(["feeds", "add", *urls], env)
        command = [sys.executable, str(Path(__file__).with_name("_offline.py")), "fetch",
                   "--all", "--inline", "--concurrency", str(concurrency)]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=1800, check=False
        )
        elapsed = time.perf_counter() - started
        print(done.stdout[-4000:] + done.stderr[-4000:])
        engine = make_engine(f"sqlite:///{tmp / 'data' / 'storywire.db'}")
        with engine.connect() as conn:
            seen = conn.execute(select(func.sum(FeedFetch.entries_seen))).scalar_one() or 0
            rows = conn.execute(
                select(Article.status, Article.error_class, func.count())
                .group_by(Article.status, Article.error_class)
            ).all()  # fmt: skip
            hosts = conn.execute(select(func.count(func.distinct(HostHealth.host)))).scalar_one()
            sources = conn.execute(select(func.count()).select_from(ArticleSource)).scalar_one()
        engine.dispose()
    stubs = sum(n for _, _, n in rows)
    unaccounted = sum(n for status, why, n in rows if status == "pending" and not why)
    print(f"time: {elapsed:.1f} s  (fetch --all --inline --concurrency {concurrency}, "
          f"exit {done.returncode})")  # fmt: skip
    print(
        f"entries seen: {seen}  feed-entry records (article_sources): {sources}  articles: "
        f"{stubs} (an article linked by several entries is one)  hosts with a fetch on record: "
        f"{hosts}"
    )
    for status, why, count in sorted(rows, key=lambda r: (r[0], r[1] or "")):
        print(f"  {status:8s} {why or '':24s} {count:6d}")
    print(f"unaccounted for (pending without a reason): {unaccounted}")
    return 0 if done.returncode == 0 and unaccounted == 0 and stubs > 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder holding feeds/")
    ap.add_argument("--limit", type=int, default=0, help="first N files only (0: all)")
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--worker", action="store_true", help="through a real worker and beat")
    ap.add_argument("--concurrency", type=int, default=None, help="worker processes (2) or, "
                    "with --fetch-inline, hosts at once (8)")  # fmt: skip
    ap.add_argument("--fetch-inline", action="store_true", help="the one-off fetch case")
    ap.add_argument("--show-errors", action="store_true", help="list every error")
    args = ap.parse_args()

    data = args.data or shared_data()
    root = data / "feeds" if data else None
    if root is None or not root.is_dir():
        print(
            "no feed corpus found (../shared/data/feeds or $STORYWIRE_SHARED_DATA/feeds): "
            "nothing to measure"
        )
        return 0
    files = corpus_files(root, args.limit)
    if args.fetch_inline:
        return fetch_inline(root, files, args.concurrency or 8)
    mode = "real worker + beat (Redis)" if args.worker else "refresh_feed in process"
    db_kind = "PostgreSQL" if args.postgres else "SQLite"
    print(f"feed corpus: {root}  files: {len(files)}  mode: {mode}  database: {db_kind}")

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="storywire-corpus-")))
        server = stack.enter_context(LocalHTTPServer())
        url = stack.enter_context(database(tmp, args.postgres))
        migrate(url)
        by_id = register(url, serve(server, root, files), tmp / "data")
        started = time.perf_counter()
        crashes: list[str] = []
        restarts = 0
        if args.worker:
            restarts = ingest_with_worker(url, by_id, tmp, args.concurrency or 2)
        else:
            crashes = ingest_in_process(url, by_id, tmp / "data")
        elapsed = time.perf_counter() - started
        counts, by_folder, errors, unfetched, entries, stubs = outcomes(url, by_id, root)

    print(f"time: {elapsed:.1f} s  ({1000 * elapsed / max(1, len(by_id)):.1f} ms/feed)")
    print(f"entries seen: {entries}  article stubs stored: {stubs}")
    for label, count in counts.most_common():
        print(f"  {label:32s} {count:6d}")
    for folder, counter in sorted(by_folder.items()):
        print(f"  [{folder}] " + ", ".join(f"{k} {v}" for k, v in counter.most_common()))
    if args.show_errors:
        for line in errors:
            print(f"  ERROR {line}")
    rss = peak_rss_mb(children=args.worker)
    print(
        f"peak RSS: {peak_rss_mb():.0f} MB"
        + (f", worker processes {rss:.0f} MB" if args.worker else "")
    )
    print(f"crashes: {len(crashes) + len(unfetched)}  worker restarts: {restarts}")
    for crash in crashes[:20]:
        print(f"  CRASH {crash}")
    for path in unfetched[:20]:
        print(f"  NO RECORD {path}")
    return 1 if crashes or unfetched or restarts else 0


if __name__ == "__main__":
    sys.exit(main())
