"""The Celery app's process set-up."""

from __future__ import annotations

import gc
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import signals
from kombu import Connection

from tests.support.processes import run_python
from worker.celery_app import (
    DEFAULT_EMBEDDED_PREFETCH,
    DEFAULT_PROC_ALIVE_TIMEOUT_S,
    celery_config,
)
from worker.config import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    # worker_process_init also makes a pool process ignore SIGTERM: restored after the test,
    # else every process the rest of the suite starts inherits the ignored signal.
    sigterm = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, sigterm)
    gc.unfreeze()  # the rest of the suite runs with a normal collector


@pytest.mark.usefixtures("unfrozen")
def test_a_worker_process_freezes_the_objects_it_starts_with() -> None:
    assert gc.get_freeze_count() == 0
    signals.worker_process_init.send(sender=None)
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the imported modules' objects, at least
    # Objects made later stay in the collector's generations: only what existed is frozen.
    # (The count may fall meanwhile: other threads of this process, the test server's or
    # pytest-xdist's, may free frozen objects; it can only grow by freezing again.)
    made_later = [[] for _ in range(1000)]
    assert gc.get_freeze_count() <= frozen
    assert any(obj is made_later for obj in gc.get_objects())  # not the permanent generation
    del made_later


def test_the_worker_loads_the_date_parsers_languages_before_it_forks() -> None:
    # A fresh interpreter: what this test process already loaded must not count.
    code = (
        "from celery import signals\n"
        "import worker.celery_app\n"
        "from dateparser.languages.loader import LocaleDataLoader as L\n"
        "before = len(L._loaded_locales)\n"
        "signals.worker_init.send(sender=None)\n"
        "print(before, len(L._loaded_locales))\n"
    )
    out = run_python(code).split()
    before, after = int(out[0]), int(out[1])
    assert before == 0
    assert after > 100  # every language dateparser knows: none is loaded on a page later


def test_the_embedded_broker_is_a_wal_file_and_its_workers_hold_a_few_messages(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    config = celery_config(settings)
    assert config["worker_prefetch_multiplier"] == DEFAULT_EMBEDDED_PREFETCH
    with Connection(
        config["broker_url"], transport_options=config["broker_transport_options"]
    ) as conn:
        queue = conn.SimpleQueue("probe")
        queue.put({"n": 1})
        assert queue.get(timeout=60).payload == {"n": 1}
        queue.close()
    with sqlite3.connect(settings.broker_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_redis_broker_keeps_one_message_per_worker_process(tmp_path: Path) -> None:
    config = celery_config(Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0"))
    assert config["worker_prefetch_multiplier"] == 1
    assert config["broker_transport_options"]["visibility_timeout"] == 3600


def test_a_pool_process_slow_to_start_is_not_killed(tmp_path: Path) -> None:
    # Celery's own 4 s: a pool process paused that long on a busy host was killed at birth.
    config = celery_config(Settings(data_dir=tmp_path))
    assert config["worker_proc_alive_timeout"] == DEFAULT_PROC_ALIVE_TIMEOUT_S >= 60


@pytest.mark.usefixtures("unfrozen")
def test_a_pool_process_leaves_sigterm_to_the_main_process() -> None:
    signals.worker_process_init.send(sender=None)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
