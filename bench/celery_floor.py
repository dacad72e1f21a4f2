"""What the queue alone costs: the ceiling's own extraction, run as Celery tasks on Redis.

    python bench/celery_floor.py [--articles 300] [--concurrency 2] [--work trafilatura]

The pages of ``bench/pipeline.py`` (the real ones under ../shared/data when present), one
Celery task each, in a prefork worker of N processes on a Redis server started here, with
Storywire's delivery settings (late acks, one message held per process, fair dispatch). A task
does nothing but extract its page, already in memory: no HTTP, no database, no story step.

``--work trafilatura`` (default) runs the ceiling's own call (trafilatura with metadata);
``--work storywire`` runs ``extract_page``, as the article task does (``warm_up()`` before the
fork, as the worker does). The ratio to the ceiling (the same pages in a plain process
pool, measured before and after) is what Celery and Redis take before any of the pipeline's
own work: the most ``bench/pipeline.py`` could show on this machine with this architecture.

The worker is this file, started as ``celery -A celery_floor worker`` (``BENCH_ARTICLES``
tells it how many pages to load).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO_ROOT, machine_load, tree_cpu_s
from celery import Celery

_DONE_KEY = "bench:done"
_CPU_KEY = "bench:task_cpu_s"
_WORK = os.environ.get("BENCH_WORK", "trafilatura")

app = Celery("celery_floor", broker=os.environ.get("BENCH_BROKER", "memory://"))
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
)

_pages: list[bytes] = []
_redis: Any = None


def _load_for_worker() -> None:
    # In the worker's main process, before the pool is forked: every process has the pages.
    from pipeline import load_pages

    _pages.extend(load_pages(int(os.environ["BENCH_ARTICLES"]))[0])
    if _WORK == "storywire":
        from worker.extract import warm_up

        warm_up()


if os.environ.get("BENCH_ARTICLES"):
    _load_for_worker()


@app.task(name="celery_floor.extract")
def extract(index: int) -> None:
    global _redis
    page = _pages[index]
    cpu = time.thread_time()
    if _WORK == "storywire":
        from worker.extract import ExtractionError, extract_page

        with contextlib.suppress(ExtractionError):  # a page without text costs its time too
            extract_page(page, url=f"http://127.0.0.2/a/{index}.html", guess_dates=False)
    else:
        from pipeline import _extract_one

        _extract_one(page)
    if _redis is None:  # one connection per pool process, made after the fork
        import redis

        _redis = redis.Redis.from_url(os.environ["BENCH_BROKER"])
    # The task's own CPU first: the count is what the bench waits for.
    _redis.incrbyfloat(_CPU_KEY, time.thread_time() - cpu)
    _redis.incr(_DONE_KEY)


def main() -> None:
    from pipeline import ceiling, load_pages

    from tests.support.services import RedisServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--work", choices=("trafilatura", "storywire"), default="trafilatura")
    args = parser.parse_args()

    import redis

    pages, origin = load_pages(args.articles)
    print(f"machine load before: {machine_load()}")
    print(f"pages: {origin}")
    before = ceiling(pages, args.concurrency)
    with RedisServer() as server:
        env = {
            **os.environ,
            "BENCH_BROKER": server.url,
            "BENCH_ARTICLES": str(len(pages)),
            "BENCH_WORK": args.work,
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(REPO_ROOT)]),
        }
        log = Path(tempfile.mkdtemp(prefix="storywire-floor-")) / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "celery_floor", "worker", "--concurrency",
                 str(args.concurrency), "--without-gossip", "--without-mingle", "--loglevel",
                 "INFO"],
                cwd=Path(__file__).parent, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            _wait_ready(log, worker)
            client = redis.Redis.from_url(server.url)
            app.conf.broker_url = server.url
            roots = {"Celery worker (main + pool)": worker.pid, "Redis server": server.pid or 0}
            cpu_before, started = tree_cpu_s(roots), time.perf_counter()
            with app.producer_or_acquire() as producer:
                for i in range(len(pages)):
                    extract.apply_async((i,), producer=producer)
            while int(client.get(_DONE_KEY) or 0) < len(pages):
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited early: see {log}")
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
            cpu_after = tree_cpu_s(roots)
            task_cpu_ms = 1000 * float(client.get(_CPU_KEY) or 0) / len(pages)
        finally:
            worker.terminate()
            worker.wait(60)
    after = ceiling(pages, args.concurrency)
    print(f"machine load after:  {machine_load()}")
    rate = len(pages) / elapsed
    ceiling_rate = statistics.mean([before.rate, after.rate])
    ceiling_cpu = statistics.mean([before.cpu_ms, after.cpu_ms])
    print(
        f"trafilatura alone, {args.concurrency} processes: {ceiling_rate:8.1f} articles/s  "
        f"(before {before.rate:.1f}, after {after.rate:.1f})   <- ceiling"
    )
    print(
        f"Celery + Redis, {args.concurrency} processes, one task a page ({args.work}): "
        f"{rate:8.1f} articles/s: ratio to the ceiling {rate / ceiling_rate:.2f}"
    )
    print(f"CPU per article in the tasks ({args.work}): {task_cpu_ms:.1f} ms")
    spent = {name: 1000 * (cpu_after[name] - cpu_before[name]) / len(pages) for name in roots}
    whole = sum(spent.values())
    print(
        "CPU per article: "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in spent.items())
        + f"; total {whole:.1f} ms against trafilatura's {ceiling_cpu:.1f}: ratio "
        f"{ceiling_cpu / whole:.2f}"
    )


def _wait_ready(log: Path, worker: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if b" ready." in log.read_bytes():
            return
        if worker.poll() is not None:
            raise SystemExit(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    raise SystemExit(f"the worker was not ready after {timeout_s:.0f} s: see {log}")


if __name__ == "__main__":
    main()
