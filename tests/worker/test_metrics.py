"""Stage metrics across forked processes, and per-domain labels with bounded cardinality."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import update

from models import Feed, make_engine, session_factory, session_scope
from tests.support.services import migrate
from tests.worker.pipeline.conftest import make_settings
from worker import metrics
from worker.metrics import OTHER_DOMAIN, _TopDomains, top_hosts
from worker.monitoring.queries import read_engine
from worker.resources import build_resources
from worker.store import add_feed

# Run in a fresh interpreter: prometheus-client's storage choice is process-global.
FORKED = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from worker import metrics

    data = Path(sys.argv[1])
    stale = data / "metrics" / "counter_999999.db"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"left over from an earlier run")
    metrics.prepare_multiprocess(data)
    assert not stale.exists()
    for _ in range(2):  # two pool children, each with its own file
        pid = os.fork()
        if pid == 0:
            metrics.observe_feed_fetch("ok", None, seconds=0.2)
            metrics.observe_page_fetch("failed", "http_404", seconds=0.1)
            metrics.observe_extraction(0.05)
            metrics.mark_process_dead(os.getpid())
            os._exit(0)
        os.waitpid(pid, 0)
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    sys.stdout.write(generate_latest(registry).decode())
    """
)


def test_children_metrics_add_up_in_the_parent(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKED, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert 'storywire_feed_fetches_total{error_class="",outcome="ok"} 2.0' in lines
    assert 'storywire_page_fetches_total{error_class="http_404",outcome="failed"} 2.0' in lines
    assert "storywire_extraction_seconds_count 2.0" in lines
    assert 'storywire_domain_fetches_total{domain="other",kind="feed",outcome="ok"} 2.0' in lines


def test_top_domains_are_bounded_and_refreshed() -> None:
    answers = [["a.example", "b.example"], ["c.example"]]
    loads: list[int] = []

    def load(size: int) -> list[str]:
        loads.append(size)
        return answers[min(len(loads) - 1, 1)]

    top = _TopDomains(load, size=2, refresh_s=3600)
    assert [top.label(h) for h in ("a.example", "b.example", "x.example", "")] == [
        "a.example", "b.example", OTHER_DOMAIN, OTHER_DOMAIN,
    ]  # fmt: skip
    assert loads == [2]  # read once per refresh period, not per call
    top._next_at = 0  # the period is over
    assert top.label("a.example") == OTHER_DOMAIN
    assert top.label("c.example") == "c.example"
    assert _TopDomains(load, size=0, refresh_s=1).label("a.example") == OTHER_DOMAIN

    def broken(size: int) -> list[str]:
        raise OSError("database away")

    assert _TopDomains(broken, size=5, refresh_s=1).label("a.example") == OTHER_DOMAIN


def test_top_hosts_by_entries_listed(sqlite_url: str) -> None:
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    with session_scope(session_factory(engine)) as session:
        for url in ("https://big.example/a", "https://big.example/b", "https://mid.example/",
                    "https://small.example/", "https://new.example/"):  # fmt: skip
            add_feed(session, url)
        session.execute(update(Feed).where(Feed.host == "big.example").values(last_entries_seen=50))
        session.execute(update(Feed).where(Feed.host == "mid.example").values(last_entries_seen=80))
        session.execute(
            update(Feed).where(Feed.host == "small.example").values(last_entries_seen=3)
        )
    engine.dispose()
    reader = read_engine(sqlite_url)
    assert top_hosts(reader, 3) == ["big.example", "mid.example", "small.example"]
    assert top_hosts(reader, 0) == []
    reader.dispose()


def test_a_process_labels_the_top_hosts_of_its_own_database(
    tmp_path: Path, sqlite_url: str
) -> None:
    # Given by the settings its resources are built with, not read from the environment.
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    with session_scope(session_factory(engine)) as session:
        for url in ("https://big.example/a", "https://big.example/b", "https://small.example/"):
            add_feed(session, url)
    engine.dispose()
    settings = make_settings(tmp_path, sqlite_url, metrics_top_domains=1)
    build_resources(settings).close()
    assert metrics.domain_label("big.example") == "big.example"
    assert metrics.domain_label("small.example") == OTHER_DOMAIN
