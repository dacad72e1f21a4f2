"""Extraction from several threads of one process: taking turns against running at once.

Usage::

    .venv/bin/python bench/extract_threads.py [--pages 300] [--threads 8]

A one-off ``storywire fetch --inline`` fetches with several threads (``--concurrency``), and
on feeds of many hosts their pages come in side by side. ``extract_page`` lets one thread of
a process extract at a time (``worker.extract.page._EXTRACTING``). This runs the same pages
(../shared/data/extraction, or generated ones when absent) through ``extract_page`` from one
thread, then from N threads taking turns (as shipped), then from N threads at once (the turns
switched off in this process: the reference), each in a fresh process with dateparser warmed,
and prints CPU ms per page, wall seconds and peak memory of each.
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
from contextlib import nullcontext, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import peak_rss_mb
from pipeline import load_pages

import worker.extract.page as page_module
from worker.extract import ExtractionError, extract_page, warm_up
from worker.logs import quiet_libraries


def _run(pages: list[bytes], threads: int) -> dict[str, float]:
    work: queue.Queue[tuple[int, bytes]] = queue.Queue()
    for item in enumerate(pages):
        work.put(item)

    def worker() -> None:
        while True:
            try:
                i, page = work.get_nowait()
            except queue.Empty:
                return
            with suppress(ExtractionError):
                extract_page(page, url=f"http://127.0.0.1/feed{i % 10}/article{i}")

    cpu, wall = time.process_time(), time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {
        "cpu_ms": 1000 * (time.process_time() - cpu) / len(pages),
        "wall_s": time.perf_counter() - wall,
        "rss_mb": peak_rss_mb(),
    }


def _child(pages: int, threads: int, turns: bool) -> None:
    quiet_libraries()
    loaded, _origin = load_pages(pages)
    warm_up()
    if not turns:
        page_module._EXTRACTING = nullcontext()  # type: ignore[assignment]
    print(json.dumps(_run(loaded, threads)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--child", nargs=2, metavar=("THREADS", "TURNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.pages, int(args.child[0]), args.child[1] == "1")
        return
    _pages, origin = load_pages(args.pages)
    print(f"pages: {origin}")
    runs = [
        ("1 thread", 1, True),
        (f"{args.threads} threads, taking turns (shipped)", args.threads, True),
        (f"{args.threads} threads at once (reference)", args.threads, False),
    ]
    for label, threads, turns in runs:
        out = subprocess.run(
            [sys.executable, __file__, "--pages", str(args.pages), "--child", str(threads),
             "1" if turns else "0"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        figures = json.loads(out.strip().splitlines()[-1])
        print(
            f"{label:40s} {figures['cpu_ms']:6.1f} ms CPU/page  {figures['wall_s']:6.1f} s wall"
            f"  peak RSS {figures['rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
