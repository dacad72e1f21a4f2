"""End to end: /metrics and /healthz of a real `storywire run` while it ingests a local site.

The worker is scraped once the site is ingested: the stage counters and histograms, the
per-domain series and the deployment gauges must all have moved. (Not before: the first
scrape reads the article counts from the database and keeps them for a minute, so a scrape
before the ingest would have the test wait that minute for them.)
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from models import Article, ArticleStatus, make_engine
from tests.e2e.site import serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import STORYWIRE, Process, run_cli, storywire_env, wait_for
from tests.support.services import RedisServer, free_port

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _answers(port: int) -> bool:
    try:
        healthz(port)
    except OSError:
        return False
    return True


def _assigned(engine: Engine) -> int:
    ok = (Article.status == ArticleStatus.OK) & Article.story_id.is_not(None)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Article).where(ok)).scalar_one())


def test_metrics_move_during_a_real_ingest(tmp_path: Path, http_server: LocalHTTPServer) -> None:
    feeds = serve_site(http_server)
    port = free_port()
    env = storywire_env(
        STORYWIRE_DATA_DIR=str(tmp_path / "data"),
        STORYWIRE_ALLOW_PRIVATE_NETWORKS="1",
        STORYWIRE_DISPATCH_INTERVAL_S="1",
        STORYWIRE_HOST_RATE_PER_S="50",
        STORYWIRE_METRICS_PORT=str(port),
    )
    run_cli(["db", "upgrade"], env)
    proc = Process(["run", "--concurrency", "2"], env, tmp_path / "run.log")
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'storywire.db'}")
    try:
        wait_for(lambda: _answers(port), timeout=180, what="/healthz", processes=(proc,))
        run_cli(["feeds", "add", feeds["world"], feeds["local"]], env)
        wait_for(
            lambda: _assigned(engine) == 4,
            timeout=180,
            what="4 articles extracted and assigned",
            processes=(proc,),
        )
        # A step's histogram is observed just after its commit. A worker process sends one
        # story step per countdown, not one per article (StoryWakeups): at least one.
        wait_for(
            lambda: total(scrape(port), "storywire_story_step_seconds_count") >= 1,
            timeout=180,
            what="the story steps' histogram",
            processes=(proc,),
        )
        after = scrape(port)
        assert value(after, "storywire_articles", status="ok") == 4

        # Counters by outcome, and per domain (127.0.0.1 is the only host: in the top N).
        # (the site's "local" feed is malformed but usable: outcome bozo)
        assert total(after, "storywire_feed_fetches_total", error_class="") >= 2
        assert value(after, "storywire_page_fetches_total", outcome="ok", error_class="") >= 4
        domain = {"name": "storywire_domain_fetches_total", "domain": "127.0.0.1"}
        assert total(after, **domain, kind="page", outcome="ok") >= 4
        assert total(after, **domain, kind="feed") >= 2
        # Histograms of every stage the ingest went through.
        for stage in ("feed_fetch", "page_fetch", "extraction", "story_step"):
            name = f"storywire_{stage}_seconds"
            assert total(after, f"{name}_count") > 0, stage
            assert total(after, f"{name}_sum") > 0, stage
            assert value(after, f"{name}_bucket", le="+Inf") == total(after, f"{name}_count")
        # The refinement histogram is exported before the first run (every 10 minutes).
        assert ("storywire_refinement_seconds_count", ()) in after
        # Gauges read from the database and the broker at scrape time.
        assert value(after, "storywire_changes_head_id") > 0
        assert value(after, "storywire_changes_head_age_seconds") >= 0
        assert value(after, "storywire_feeds", status="active") == 2
        assert {
            q for (n, ls), _ in after.items() if n == "storywire_queue_depth" for _, q in ls
        } == {
            "feeds",
            "articles",
            "stories",
        }
        assert value(after, "storywire_workers_alive") >= 1
        assert ("storywire_beat_last_tick_age_seconds", ()) in after
        assert value(after, "storywire_scrape_error", source="database") == 0
        assert value(after, "storywire_scrape_error", source="broker") == 0

        status, body = healthz(port)
        assert status == 200, body
        assert [line.split(":")[0] for line in body.splitlines()] == [
            "ok database",
            "ok migrations",
            "ok broker",
            "ok beat",
            "ok worker",
        ]
    finally:
        proc.stop()
        engine.dispose()


def test_worker_and_beat_heartbeats_make_health_green(
    tmp_path: Path, redis_server: RedisServer, pg_url: str
) -> None:
    """Real `storywire worker` and `storywire beat` on Redis + Postgres: health goes green
    once both have stamped their runs, and red for the worker once it is stopped. The
    worker's data dir does not exist beforehand: the worker creates it."""
    data_dir = tmp_path / "not" / "yet"
    env = storywire_env(
        STORYWIRE_DATA_DIR=str(data_dir),
        DATABASE_URL=pg_url,
        REDIS_URL=redis_server.url,
        STORYWIRE_AUTO_MIGRATE="0",
        STORYWIRE_DISPATCH_INTERVAL_S="1",
    )
    run_cli(["db", "upgrade"], env)
    worker = Process(["worker", "--concurrency", "1"], env, tmp_path / "worker.log")
    beat = Process(["beat"], env, tmp_path / "beat.log")

    def health_code(*args: str) -> int:
        done = subprocess.run(
            [*STORYWIRE, "health", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode

    try:
        wait_for(
            lambda: health_code() == 0,
            timeout=180,
            what="storywire health to pass",
            processes=(worker, beat),
        )
        assert data_dir.is_dir()
        assert health_code("--checks", "worker", "--local") == 0
    finally:
        # Time to stop cleanly however busy the machine (a SIGKILL would leave the run open).
        worker.stop(timeout=120)
        beat.stop()
    # A cleanly stopped worker finishes its run: no worker is alive any more.
    assert health_code("--checks", "worker") == 1
