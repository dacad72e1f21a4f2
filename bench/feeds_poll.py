"""Polling unchanged feeds through the worker: time and SQL statements per feed.

    python bench/feeds_poll.py [--feeds 1000] [--hosts 100] [--concurrency 2]

Local HTTP servers on H loopback addresses (127.0.0.2, ...: H hosts, as feeds are spread over
many sites) serve N feeds, each with its own ETag. They are registered and polled once in this
process (200 with the ETag), made due again as after a poll interval (their hosts' last
answers an hour old), and then a real Celery worker
(``--queues feeds``, 2 processes, traced by ``bench/_trace.py``) and beat on Redis + Postgres
poll them all: every answer is a 304 to ``If-None-Match``. Prints the machine's load, the time
from the first poll to the last, feeds/s, and the SQL statements and commits per feed (the
worker's, dispatch included), against the targets (<= 20 s for 1,000 feeds, <= 3 statements
per feed). Exits 1 if a feed was not polled or was not answered 304.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from _common import machine_load, peak_rss_mb
from _trace import TRACE_ENV
from pipeline import TRACE, _read_trace
from sqlalchemy import func, select, update

from models import Feed, FeedFetch, HostHealth, make_engine, utcnow
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import Process, run_cli, storywire_env
from tests.support.services import PostgresServer, RedisServer
from worker.config import Settings
from worker.pipeline import refresh_feed
from worker.resources import build_resources

FEED_TASK = "worker.tasks.fetch_feed"
DISPATCH_TASK = "worker.tasks.dispatch_due_feeds"
TARGET_S_PER_1000 = 20.0
TARGET_STATEMENTS = 3.0


def serve(servers: list[LocalHTTPServer], count: int) -> list[str]:
    """``count`` feeds dealt out to the servers (hosts) in turn; their URLs."""
    urls = []
    for i in range(count):
        server = servers[i % len(servers)]
        body = (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title>'
            f"<link>{server.url('/')}</link><description>unchanged</description></channel></rss>"
        )
        path = f"/f/{i}.xml"
        server.add(path, body, content_type="application/rss+xml", headers={"ETag": f'"v1-{i}"'})
        urls.append(server.url(path))
    return urls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    if not 1 <= args.hosts <= 250:
        parser.error("--hosts: 1 to 250 (loopback addresses 127.0.0.2 to 127.0.0.251)")
    tmp = Path(tempfile.mkdtemp(prefix="storywire-poll-"))
    (tmp / "trace").mkdir()
    print(f"machine load before: {machine_load()}")
    with RedisServer() as redis_server, PostgresServer() as pg, ExitStack() as hosts:
        http = [hosts.enter_context(LocalHTTPServer(f"127.0.0.{2 + h}")) for h in range(args.hosts)]
        db_url = pg.create_database()
        env = storywire_env(
            DATABASE_URL=db_url,
            REDIS_URL=redis_server.url,
            STORYWIRE_DATA_DIR=str(tmp / "data"),
            STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
            # Every host is this machine: the politeness limit would measure itself.
            STORYWIRE_HOST_RATE_PER_S="0",
            STORYWIRE_DISPATCH_INTERVAL_S="1",
            STORYWIRE_DISPATCH_PER_HOST=str(args.feeds),
            STORYWIRE_LOG_LEVEL="WARNING",
            **{TRACE_ENV: str(tmp / "trace")},
        )
        run_cli(["db", "upgrade"], env)
        run_cli(["feeds", "add", *serve(http, args.feeds)], env)
        first_poll(db_url, tmp / "data")
        engine = make_engine(db_url)
        with engine.begin() as conn:  # all due again, as an hour later
            conn.execute(update(Feed).values(next_check_at=utcnow()))
            conn.execute(update(HostHealth).values(last_ok_at=utcnow() - timedelta(hours=1)))
        worker = Process(
            ["worker", "--queues", "feeds", "--concurrency", str(args.concurrency)],
            env,
            tmp / "worker.log",
            program=TRACE,
        )
        beat = Process(["beat"], env, tmp / "beat.log")
        polled = select(func.count()).select_from(FeedFetch)
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    if conn.execute(polled).scalar_one() >= 2 * args.feeds:
                        break
                time.sleep(0.2)
        finally:
            beat.stop()
            worker.stop()
        with engine.connect() as conn:
            outcomes = dict(
                conn.execute(
                    select(FeedFetch.outcome, func.count()).group_by(FeedFetch.outcome)
                ).all()
            )
        engine.dispose()
    print(f"machine load after:  {machine_load()}")
    records = _read_trace(tmp / "trace")
    polls = [r for r in records if r["kind"] == FEED_TASK]
    dispatches = [r for r in records if r["kind"] == DISPATCH_TASK]
    if not polls:
        print(f"no feed was polled by the worker: see {tmp}")
        return 1
    elapsed = max(r["end"] for r in polls) - min(r["start"] for r in polls)
    statements = sum(r["statements"] for r in polls + dispatches)
    commits = sum(r["commits"] for r in polls + dispatches)
    n = len(polls)
    print(f"outcomes of both polls: {outcomes}")
    print(
        f"{n} unchanged feeds on {args.hosts} hosts polled by {args.concurrency} worker "
        "processes (Redis + Postgres) "
        f"in {elapsed:.1f} s: {n / elapsed:.0f} feeds/s  (target: {args.feeds} in "
        f"<= {TARGET_S_PER_1000 * args.feeds / 1000:.0f} s)"
    )
    print(
        f"SQL per feed: {statements / n:.2f} statements, {commits / n:.2f} commits "
        f"(polls {sum(r['statements'] for r in polls) / n:.2f} + dispatch "
        f"{sum(r['statements'] for r in dispatches) / n:.2f}; target <= {TARGET_STATEMENTS:g})"
    )
    print(f"peak RSS: worker processes {peak_rss_mb(children=True):.0f} MB")
    return 0 if n >= args.feeds and outcomes.get("not_modified", 0) >= args.feeds else 1


def first_poll(db_url: str, data_dir: Path) -> None:
    """Every feed polled once in this process: each answers 200 with its ETag."""
    rt = build_resources(
        Settings(
            data_dir=data_dir,
            database_url=db_url,
            allow_private_networks=True,
            host_rate_per_s=0,
        )
    )
    try:
        with rt.engine.connect() as conn:
            ids = list(conn.execute(select(Feed.id)).scalars())
        for feed_id in ids:
            refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id)
    finally:
        rt.close()


if __name__ == "__main__":
    sys.exit(main())
