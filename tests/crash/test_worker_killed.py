"""SIGKILL the whole worker at random points of a real ingest, restart it: nothing is lost,
nothing is stored twice, every outbox fact is written once.

Real processes on Redis + PostgreSQL, 160 articles from the local server. The
worker (main process and its pool children) is killed three times: while feeds are being
refreshed, and twice while articles are being fetched. What a killed task had not committed
is rolled back by PostgreSQL; its message stays unacknowledged in Redis (redelivered only
after the visibility timeout, an hour), so recovery is the database's job: a feed whose
refresh was lost is dispatched again when its lease runs out, an article left pending is
re-enqueued by the sweeper, and every write is idempotent, so whatever runs twice is stored
once.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.crash.conftest import Ingest
from tests.support.httpserver import LocalHTTPServer
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow


def test_worker_killed_at_random_points(
    tmp_path: Path, http_server: LocalHTTPServer, redis_server: RedisServer, pg_url: str
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    ingest = Ingest.prepare(tmp_path, http_server, redis_server.url, pg_url, feeds=4, per_feed=40)
    ingest.log.append(f"seed {seed}")
    try:
        ingest.start_beat()
        # 1: while the feeds are being refreshed (stubs half written, tasks in flight).
        ingest.start_worker()
        _wait_for_stubs(ingest)
        time.sleep(rng.uniform(0.0, 0.5))
        ingest.kill_worker()
        # 2 and 3: at random moments of the article phase.
        for low, high in ((20, 60), (80, 130)):
            ingest.start_worker()
            ingest.wait_progress(min(ingest.progress() + rng.randint(1, 10), ingest.articles))
            ingest.wait_progress(min(rng.randint(low, high), ingest.articles - 20))
            time.sleep(rng.uniform(0.0, 0.3))
            ingest.kill_worker()
        ingest.finish()
        ingest.check_exactly_once()
    finally:
        print("\n".join(ingest.log))  # the seed and where each kill landed
        ingest.stop()
    assert ingest.starts == 4


def _wait_for_stubs(ingest: Ingest) -> None:
    from sqlalchemy import func, select

    from models import Article
    from tests.support.processes import wait_for

    def stubs() -> int:
        with ingest.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Article)).scalar_one())

    assert ingest.worker is not None
    wait_for(lambda: stubs() > 0, timeout=180, what="first stubs", processes=(ingest.worker,),
             interval=0.05)  # fmt: skip
