"""The embedded broker started by several processes at once (worker and beat under honcho):
each one declares the queues, none dies on the other's insert or CREATE TABLE."""

from __future__ import annotations

import multiprocessing
from multiprocessing.queues import Queue as ResultQueue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from kombu import Connection, Exchange, Queue

from worker.celery_app import QUEUES
from worker.config import Settings
from worker.embedded_broker import embedded_broker_url

#: Rounds of processes starting together on a fresh broker file. With kombu's own transport
#: about one round in five lost a process (UNIQUE constraint failed: kombu_queue.name).
ROUNDS = 25
PROCESSES = 3


def _declare(url: str, barrier: Barrier, results: ResultQueue[str]) -> None:
    barrier.wait(60)  # all at once, as honcho starts them
    try:
        with Connection(url) as conn:
            channel = conn.default_channel
            for name in QUEUES:
                Queue(name, Exchange(name), name)(channel).declare()
            conn.SimpleQueue(QUEUES[0]).put({"from": "test"})
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_declaring_the_queues_at_once_all_get_through(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        (tmp_path / str(round_)).mkdir()
        url = embedded_broker_url(Settings(data_dir=tmp_path / str(round_)).broker_path)
        barrier = ctx.Barrier(PROCESSES)
        results: ResultQueue[str] = ctx.Queue()
        procs = [
            ctx.Process(target=_declare, args=(url, barrier, results)) for _ in range(PROCESSES)
        ]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join(60)
        assert outcomes == ["ok"] * PROCESSES, f"round {round_}"
        with Connection(url) as conn:  # one row per queue, every message kept
            assert conn.SimpleQueue(QUEUES[0]).qsize() == PROCESSES
