"""End-to-end ingestion throughput, stage by stage, against trafilatura's own rate.

    python bench/pipeline.py [--feeds 10] [--articles 300] [--concurrency 2] [--runs 1]
                             [--embedded | --inline] [--set STORYWIRE_NAME=VALUE ...]

Local HTTP servers serve N feeds linking M article pages (the real pages under
../shared/data/extraction/*/html when present, else generated pages), each feed and its pages
on its own loopback address (127.0.0.2, ...: one host per feed). Storywire ingests them:

- default: a real Celery worker (2 processes) and beat on Redis + Postgres (started here, in
  temp dirs);
- ``--embedded``: the same on the embedded defaults (SQLite broker and SQLite database);
- ``--inline``: ``storywire fetch --all --inline`` in one process, on Postgres.

``--runs N`` repeats the run N times, each between two measurements of the ceiling, and prints
the median ratio: on a shared machine one run's ratio moves by about ±0.07.

``--set`` gives the run a setting (e.g. ``--set STORYWIRE_STORY_BATCH=8``) to compare one
value against another.

The clock runs from the first feed refresh to the moment every article is extracted *and*
has its story. In the same run, before and after, the same pages go through trafilatura
alone (no HTTP, no DB, no queue): in one process and in as many processes as the worker has
(the ceiling). Prints the machine's load, articles/s and the ratio to the ceiling, then where
the time goes per article (from ``bench/_trace.py``, which runs the worker with stage timers):
time in queue, feed step, fetch, extraction, store, story step, the rest of the task, the pool
processes' time outside any task (Celery/broker overhead and idle), and the SQL statements and
commits per article.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from _common import machine_load, peak_rss_mb, shared_data, tree_cpu_s
from _trace import TRACE_ENV
from sqlalchemy import func, select

from models import Article, make_engine, read_only, utcnow
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import Process, run_cli, storywire_env
from tests.support.services import PostgresServer, RedisServer

TRACE = [sys.executable, str(Path(__file__).with_name("_trace.py"))]
ARTICLE_TASK = "worker.tasks.fetch_article"
STORY_TASK = "worker.tasks.assign_story"
FEED_TASK = "worker.tasks.fetch_feed"


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


@dataclass
class Ceiling:
    rate: float  # articles/s
    cpu_ms: float  # CPU ms per article


def ceiling(pages: list[bytes], processes: int) -> Ceiling:
    started, cpu = time.perf_counter(), _cpu()
    if processes == 1:
        for page in pages:
            _extract_one(page)
    else:
        pool = multiprocessing.get_context("fork").Pool(processes)
        pool.map(_extract_one, pages, chunksize=4)
        pool.close()
        pool.join()  # reaped: their CPU time is counted as this process's children's
    elapsed = time.perf_counter() - started
    return Ceiling(len(pages) / elapsed, 1000 * (_cpu() - cpu) / len(pages))


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def serve(servers: list[LocalHTTPServer], pages: list[bytes]) -> list[str]:
    """One feed per server, each server its own host (as feeds and their pages are on the
    web), the pages dealt out to the feeds in turn; the feeds' URLs."""
    feeds = len(servers)
    per_feed: list[list[str]] = [[] for _ in range(feeds)]
    for i, page in enumerate(pages):
        server = servers[i % feeds]
        path = f"/a/{i}.html"
        server.add(path, page)
        per_feed[i % feeds].append(server.url(path))
    urls = []
    now = format_datetime(utcnow())
    for f, (server, links) in enumerate(zip(servers, per_feed, strict=True)):
        items = "".join(
            f"<item><title>Item {k}</title><link>{link}</link><guid>{link}</guid>"
            f"<pubDate>{now}</pubDate></item>"
            for k, link in enumerate(links)
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>F{f}</title>{items}'
        server.add(f"/feed{f}.xml", body + "</channel></rss>", content_type="application/rss+xml")
        urls.append(server.url(f"/feed{f}.xml"))
    return urls


@dataclass
class Run:
    mode: str
    processes: int
    articles: int
    ok: int
    elapsed: float
    records: list[dict[str, Any]]
    # CPU seconds of whole processes over the run: the storywire process(es) with their
    # children, beat, and the database and broker servers (their growth during the run).
    cpu: dict[str, float]
    # CPU seconds of this process over the run: the local HTTP servers that stand in for the
    # web, and the sampler. The ceiling pays for neither; the web's servers are elsewhere.
    bench_cpu: float

    @property
    def rate(self) -> float:
        return self.articles / self.elapsed


@contextmanager
def services(mode: str, tmp: Path) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    """The environment of the run, its database (and broker) started here; their pids."""
    with ExitStack() as stack:
        env: dict[str, str] = {}
        pids: dict[str, int] = {}
        if mode != "embedded":
            pg = stack.enter_context(PostgresServer())
            env["DATABASE_URL"] = pg.create_database()
            pids["Postgres server"] = pg.pid or 0
        if mode == "celery":
            redis = stack.enter_context(RedisServer())
            env["REDIS_URL"] = redis.url
            pids["Redis server"] = redis.pid or 0
        yield env, pids


def run_pipeline(
    mode: str, pages: list[bytes], feeds: int, concurrency: int, settings: dict[str, str]
) -> Run:
    tmp = Path(tempfile.mkdtemp(prefix="storywire-bench-"))
    (tmp / "trace").mkdir()
    with services(mode, tmp) as (urls, servers), ExitStack() as hosts:
        # Each feed on its own loopback address (127.0.0.2, 127.0.0.3, ...): its own host.
        http = [hosts.enter_context(LocalHTTPServer(f"127.0.0.{2 + f}")) for f in range(feeds)]
        env = storywire_env(
            **urls,
            STORYWIRE_DATA_DIR=str(tmp / "data"),
            STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
            # Every host is this machine, 30 pages each: the politeness limit (1 request/s a
            # host by default) would measure itself.
            STORYWIRE_HOST_RATE_PER_S="0",
            STORYWIRE_DISPATCH_INTERVAL_S="1",
            STORYWIRE_DISPATCH_PER_HOST=str(feeds),
            STORYWIRE_LOG_LEVEL="WARNING",
            **{TRACE_ENV: str(tmp / "trace")},
            **settings,
        )
        run_cli(["db", "upgrade"], env)
        run_cli(["feeds", "add", *serve(http, pages)], env)
        db_url = urls.get("DATABASE_URL") or f"sqlite:///{tmp / 'data' / 'storywire.db'}"
        engine = make_engine(db_url)
        if mode == "inline":
            fetch = ["fetch", "--all", "--inline"]
            processes = [Process(fetch, env, tmp / "fetch.log", program=TRACE)]
            roots = {**servers, "storywire": processes[0].popen.pid}
        else:
            processes = [
                Process(["worker", "--concurrency", str(concurrency)], env, tmp / "worker.log",
                        program=TRACE),
                Process(["beat"], env, tmp / "beat.log"),
            ]  # fmt: skip
            roots = {**servers, "storywire (main + pool)": processes[0].popen.pid,
                     "beat": processes[1].popen.pid}  # fmt: skip
        sampler = _CpuSampler(roots)
        try:
            finished = _wait_done(engine, len(pages), processes)
            sampler.stop()
        finally:
            for process in processes:
                process.stop()
        with engine.connect() as c:
            ok = c.execute(
                select(func.count()).select_from(Article).where(Article.status == "ok")
            ).scalar_one()
        engine.dispose()
    records = _read_trace(tmp / "trace")
    starts = [r["start"] for r in records if r["kind"] in (FEED_TASK, "inline.feed")]
    if not starts:
        raise SystemExit(f"no feed was refreshed: see the logs in {tmp}")
    elapsed = finished - min(starts)
    cpu = sampler.since(min(starts))
    bench_cpu = cpu.pop(_CpuSampler.OWN)
    records = [r for r in records if r["start"] < finished]
    return Run(
        mode,
        1 if mode == "inline" else concurrency,
        len(pages),
        ok,
        elapsed,
        records,
        cpu,
        bench_cpu,
    )


class _CpuSampler:
    """Samples the CPU time of whole process trees (``tree_cpu_s``), and of this process, every
    ``every_s`` in a thread, so that the run's share can be told from start-up (imports,
    migrations, warm-up)."""

    # The bench's own process under this key: not one of the roots, kept apart from them.
    OWN = ""

    def __init__(self, roots: dict[str, int], every_s: float = 0.25) -> None:
        self.roots = roots
        self.samples = [self._sample()]
        self._stopped = threading.Event()
        self._every_s = every_s
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> tuple[float, dict[str, float]]:
        return time.time(), {**tree_cpu_s(self.roots), self.OWN: time.process_time()}

    def _run(self) -> None:
        while not self._stopped.wait(self._every_s):
            self.samples.append(self._sample())

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        self.samples.append(self._sample())

    def since(self, started: float) -> dict[str, float]:
        """CPU seconds of each tree (and of this process, under ``OWN``) from the last sample
        before ``started`` to the end."""
        before = [cpu for at, cpu in self.samples if at <= started] or [self.samples[0][1]]
        last = self.samples[-1][1]
        return {name: last[name] - before[-1][name] for name in last}


def _wait_done(engine: Any, total: int, processes: list[Process]) -> float:
    """Wall-clock time at which every article was extracted (or failed) and has a story."""
    done_q = (
        select(func.count())
        .select_from(Article)
        .where(Article.status != "pending", Article.story_id.is_not(None))
    )
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        # read_only: on SQLite, a snapshot read that does not queue for the writers' lock.
        with engine.connect() as c:
            if read_only(c).execute(done_q).scalar_one() >= total:
                return time.time()
        if not all(p.alive() for p in processes[:1]) and processes[0].popen.returncode:
            raise SystemExit(f"storywire exited early:\n{processes[0].output()[-3000:]}")
        time.sleep(0.1)  # this query's own CPU is counted in the database server's
    raise SystemExit("not done after 30 minutes")


def _read_trace(folder: Path) -> list[dict[str, Any]]:
    records = []
    for path in folder.glob("trace-*.jsonl"):
        records.extend(json.loads(line) for line in path.read_text().splitlines() if line)
    return records


def stage_table(run: Run) -> list[tuple[str, float]]:
    """Milliseconds per article of each stage; they add up to processes x elapsed / article."""
    n = run.articles
    total: dict[str, float] = defaultdict(float)
    busy = 0.0
    for r in run.records:
        body = r["end"] - r["start"]
        busy += body
        stages = {k: v for k, v in r["stages"].items() if not k.endswith("_cpu")}
        if r["kind"] in (ARTICLE_TASK, "inline.article"):
            for stage in ("fetch", "extract", "store"):
                total[stage] += stages.get(stage, 0.0)
            total["article task, rest"] += body - sum(stages.values())
            total["story step"] += stages.get("story", 0.0)
        elif r["kind"] in (STORY_TASK, "inline.story"):
            total["story step"] += body
        elif r["kind"] in (FEED_TASK, "inline.feed"):
            total["feed: fetch + parse"] += stages.get("feed_fetch", 0.0) + stages.get(
                "feed_parse", 0.0
            )
            total["feed: stubs, schedule"] += (
                body - stages.get("feed_fetch", 0.0) - stages.get("feed_parse", 0.0)
            )
        else:
            total["other tasks"] += body
    outside = run.processes * run.elapsed - busy
    if run.mode != "inline":
        label = "outside tasks (Celery, idle)"
    elif outside < 0:  # threads work side by side (pages, and the story step beside them)
        label = "overlap (threads side by side)"
    else:
        label = "outside (CLI, progress)"
    total[label] += outside
    return [(name, 1000 * seconds / n) for name, seconds in total.items()]


def cpu_table(run: Run) -> list[tuple[str, float]]:
    """CPU milliseconds per article: the tasks' stages, and the rest of each kind of task."""
    total: dict[str, float] = defaultdict(float)
    for r in run.records:
        stages = {k[:-4]: v for k, v in r["stages"].items() if k.endswith("_cpu")}
        kind = r["kind"].rsplit(".", 1)[-1]
        for stage, seconds in stages.items():
            total[stage] += seconds
        total[f"{kind}, rest"] += r.get("cpu", 0.0) - sum(stages.values())
    return [(name, 1000 * seconds / run.articles) for name, seconds in sorted(total.items())]


def queue_times(run: Run) -> dict[str, float]:
    """Median ms between a message's publication and its task's start, per task kind."""
    waits: dict[str, list[float]] = defaultdict(list)
    for r in run.records:
        if r.get("sent"):
            waits[r["kind"].rsplit(".", 1)[-1]].append(1000 * (r["start"] - r["sent"]))
    return {kind: statistics.median(values) for kind, values in waits.items()}


def report(run: Run, one: float, many: float) -> None:
    ceiling_rate = many if run.processes > 1 else one
    what = {
        "celery": f"{run.processes} worker processes (Redis + Postgres)",
        "embedded": f"{run.processes} worker processes (embedded: SQLite broker + database)",
        "inline": "fetch --inline, 1 process (Postgres)",
    }[run.mode]
    print(
        f"storywire end to end, {what}: {run.rate:8.1f} articles/s  "
        f"({1000 / run.rate:6.1f} ms/article), {run.ok}/{run.articles} extracted ok"
    )
    print(
        f"ratio to the ceiling ({'1' if run.processes == 1 else run.processes}-process "
        f"trafilatura): {run.rate / ceiling_rate:.2f}   (to 1-process trafilatura: "
        f"{run.rate / one:.2f})"
    )
    if run.mode == "inline":
        # A page's extraction includes its wait for its turn (worker.extract.page).
        print("\nwhere the time goes: thread-ms per article (threads overlap; extraction "
              "includes the wait for its turn)")  # fmt: skip
    else:
        print(f"\nwhere the time goes: process-ms per article ({run.processes} process(es))")
    rows = stage_table(run)
    for name, ms in rows:
        print(f"  {name:32s} {ms:8.1f}")
    print(f"  {'total (= processes x ms/article)':32s} {sum(ms for _, ms in rows):8.1f}")
    print("CPU ms per article, by stage (tasks' own threads):")
    for name, ms in cpu_table(run):
        print(f"  {name:32s} {ms:8.1f}")
    if run.mode != "inline":
        waits = queue_times(run)
        print(
            "time in queue (median ms, publication to start): "
            + ", ".join(f"{k} {v:.0f}" for k, v in sorted(waits.items()))
        )
    statements = sum(r["statements"] for r in run.records)
    commits = sum(r["commits"] for r in run.records)
    db = "SQLite" if run.mode == "embedded" else "Postgres"
    print(
        f"database ({db}): {statements / run.articles:.1f} statements and "
        f"{commits / run.articles:.1f} commits per article (feed, article and story steps)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--runs", type=int, default=1, help="runs, alternated with the ceiling (1-9): the median"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--embedded", action="store_true", help="SQLite broker and database")
    mode.add_argument("--inline", action="store_true", help="fetch --all --inline, 1 process")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="STORYWIRE_NAME=VALUE",
        help="a setting of the run (repeatable), e.g. --set STORYWIRE_STORY_BATCH=8",
    )
    args = parser.parse_args()
    if any(not item.startswith("STORYWIRE_") or "=" not in item for item in args.set):
        parser.error("--set takes STORYWIRE_NAME=VALUE")
    settings = dict(item.split("=", 1) for item in args.set)
    if not 1 <= args.feeds <= 250:
        parser.error("--feeds takes 1 to 250 (one loopback address each, 127.0.0.2 onwards)")
    if not 1 <= args.runs <= 9:
        parser.error("--runs takes 1 to 9")
    mode_name = "inline" if args.inline else "embedded" if args.embedded else "celery"

    pages, origin = load_pages(args.articles)
    print(f"pages: {origin}")
    if settings:
        print(f"settings: {settings}")
    # Runs and ceilings alternate (ceiling, run, ceiling, run, ..., ceiling): each run is set
    # against the ceilings measured just before and just after it, on the same machine state.
    ceilings = [(ceiling(pages, 1), ceiling(pages, args.concurrency))]
    ratios: list[tuple[float, float]] = []
    for number in range(1, args.runs + 1):
        if args.runs > 1:
            print(f"\n=== run {number} of {args.runs}")
        print(f"machine load before: {machine_load()}")
        run = run_pipeline(mode_name, pages, args.feeds, args.concurrency, settings)
        ceilings.append((ceiling(pages, 1), ceiling(pages, args.concurrency)))
        print(f"machine load after:  {machine_load()}")
        ratios.append(_report_run(run, ceilings[-2:], args.concurrency))
    if args.runs > 1:
        walls, cpus = zip(*ratios, strict=True)
        print(
            f"\n{args.runs} runs: ratio to the ceiling "
            + ", ".join(f"{r:.2f}" for r in walls)
            + f" (median {statistics.median(walls):.2f}); whole processes' CPU ratio "
            + ", ".join(f"{r:.2f}" for r in cpus)
            + f" (median {statistics.median(cpus):.2f})"
        )


def _report_run(
    run: Run, ceilings: list[tuple[Ceiling, Ceiling]], concurrency: int
) -> tuple[float, float]:
    """Print one run against the ceilings measured before and after it; its wall ratio to the
    ceiling and the whole processes' CPU ratio."""
    one = [c[0].rate for c in ceilings]
    many = [c[1].rate for c in ceilings]
    one_rate, many_rate = statistics.mean(one), statistics.mean(many)
    print(
        f"trafilatura alone, 1 process:   {one_rate:8.1f} articles/s  "
        f"({1000 / one_rate:6.1f} ms/article; before {one[0]:.1f}, after {one[1]:.1f})"
    )
    print(
        f"trafilatura alone, {concurrency} processes: {many_rate:8.1f} articles/s  "
        f"({1000 / many_rate:6.1f} ms/article; before {many[0]:.1f}, after {many[1]:.1f})"
        "   <- ceiling"
    )
    report(run, one_rate, many_rate)
    cpu_ceiling = statistics.mean(c.cpu_ms for pair in ceilings for c in pair)
    cpu = sum(r.get("cpu", 0.0) for r in run.records) * 1000 / run.articles
    print(
        f"CPU per article (a busy machine inflates it far less than wall time): storywire's "
        f"tasks {cpu:.1f} ms, trafilatura alone {cpu_ceiling:.1f} ms: ratio "
        f"{cpu_ceiling / cpu:.2f} (tasks only; whole processes below)"
    )
    whole = sum(run.cpu.values()) * 1000 / run.articles
    print(
        "CPU per article of whole processes (from /proc, first feed refresh to the end): "
        + ", ".join(f"{k} {1000 * v / run.articles:.1f} ms" for k, v in run.cpu.items())
        + f"; total {whole:.1f} ms: ratio {cpu_ceiling / whole:.2f}"
    )
    # How full the machine was: when it is near 100 %, the wall ratio can only rise with less
    # CPU per article; well below, something waits (locks, the broker, the story countdown).
    cores = os.cpu_count() or 1
    used = sum(run.cpu.values()) / (cores * run.elapsed)
    # (Inline, the threads' records overlap: their sum says nothing of one process's time.)
    pool = "" if run.mode == "inline" else f" (pool processes in tasks: {_in_tasks(run):.0%})"
    print(f"the {cores} cores' time used by these processes over the run: {used:.0%}{pool}; "
          f"the bench's own process (the HTTP servers standing in for the web): "
          f"{1000 * run.bench_cpu / run.articles:.1f} ms per article, "
          f"{run.bench_cpu / (cores * run.elapsed):.0%} of the cores")  # fmt: skip
    print(f"peak RSS: bench {peak_rss_mb():.0f} MB, largest child process "
          f"{peak_rss_mb(children=True):.0f} MB")  # fmt: skip
    ceiling_rate = many_rate if run.processes > 1 else one_rate
    return run.rate / ceiling_rate, cpu_ceiling / whole


def _in_tasks(run: Run) -> float:
    """Share of the processes' run time spent inside tasks (articles, feeds, stories)."""
    busy: float = sum(r["end"] - r["start"] for r in run.records)
    return busy / (run.processes * run.elapsed)


if __name__ == "__main__":
    main()
