"""Redis and PostgreSQL restart in the middle of a real ingest: the run completes, nothing is
lost or stored twice, and the worker and beat ride it out without being restarted.

Redis runs without persistence here, so its restart loses every queued task: the worker and
beat must reconnect (Celery retries the broker connection), and the work comes back from
the database (feed leases, the sweeper). PostgreSQL's restart (fast shutdown) cuts every
connection, mid-transaction for the tasks running at that moment: those roll back, the
connection pool replaces dead connections (an idle one is pinged at checkout; a busy one fails
its next statement, which invalidates the pool, and that task retries), and the sweeper
re-enqueues what was left pending.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.crash.conftest import Ingest
from tests.support.httpserver import LocalHTTPServer
from tests.support.services import PostgresServer, RedisServer

pytestmark = pytest.mark.slow


def test_redis_and_postgres_restart_mid_run(
    tmp_path: Path,
    http_server: LocalHTTPServer,
    redis_server: RedisServer,
    postgres_server: PostgresServer,
    pg_url: str,
) -> None:
    # 160 articles: each outage lands with work in flight and more still to come.
    ingest = Ingest.prepare(tmp_path, http_server, redis_server.url, pg_url, feeds=4, per_feed=40)
    try:
        ingest.start_beat()
        worker = ingest.start_worker()
        ingest.wait_progress(40)
        # No broadcast (remote control) queue: kombu deletes it when its connection closes,
        # and on a restart that deletion ran on a closed connection and crashed the worker.
        client = redis.Redis.from_url(redis_server.url)
        try:
            assert client.keys("_kombu.binding.*pidbox*") == []
            assert client.keys("_kombu.binding.feeds")  # the worker's own queues are there
        finally:
            client.close()

        # Progress is read before each restart: while PostgreSQL is down it reads 0, and a
        # target computed from that would be met at once (or, read just after, never).
        before = ingest.progress()
        redis_server.restart()  # every queued message is gone with it
        ingest.log.append(f"redis restarted at {before} processed")
        ingest.wait_progress(min(before + 30, ingest.articles), sweep=True)

        before = ingest.progress()
        postgres_server.restart()  # every connection cut, some mid-transaction
        ingest.log.append(f"postgres restarted at {before} processed")
        ingest.finish()  # every article, through the sweeper where the restart cut a task
        assert worker.alive() and ingest.worker is worker  # never restarted
        assert ingest.beat is not None and ingest.beat.alive()
        ingest.check_exactly_once()
    finally:
        print("\n".join(ingest.log))
        ingest.stop()
