"""Refinement of a live window: time, peak memory and churn on PostgreSQL.

Usage::

    .venv/bin/python bench/stories_refine.py                    # 20,000 articles in 72 h
    .venv/bin/python bench/stories_refine.py --articles 5000    # a quicker look

Starts a throw-away PostgreSQL server (tests/support/services.py), stores ``--articles``
synthetic articles published over 72 hours (``stories_scale.Corpus``: a Zipf vocabulary plus
each event's own words and names; 1-8 articles an event, a tenth of them headline only), and
assigns them with the worker's own online step (``drain_backlog``, batches of 32): that time
per article is printed as the reference of this run. Then, in a child process (so its peak RSS
is the refinement's alone), ``refine_stories`` over the 72 h window twice: the first run's time,
what it changed, and the second's churn (it must be 0: nothing changed in between).

Goal (issue 17): <= 30 s and <= 1 GB for 20,000 articles; churn 0 on the second run.
Synthetic texts: this measures cost, not quality (bench/stories_eval.py does that).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

from _common import peak_rss_mb
from sqlalchemy import insert
from stories_scale import NOW, Corpus

from models import Article, ArticleStatus, make_engine, session_factory
from worker.migrations import upgrade
from worker.pipeline.story import drain_backlog
from worker.stories.refine import refine_stories

WINDOW = timedelta(hours=72)


def load(url: str, n: int, seed: int) -> float:
    """Store ``n`` articles over the window and assign them online; ms per article."""
    corpus = Corpus(seed)
    rows = []
    while len(rows) < n:
        event = corpus.event()
        start = NOW - WINDOW * corpus.rnd.random()
        for _ in range(1 + int(corpus.rnd.expovariate(1 / 3)) % 8):
            i = len(rows)
            title, body = corpus.article(event)
            rows.append(
                {
                    "canonical_url": f"https://site{i % 300}.example/a/{i}",
                    "url": f"https://site{i % 300}.example/a/{i}",
                    "title": title,
                    "text": None if i % 10 == 0 else body,
                    "published_at": min(NOW, start + timedelta(hours=corpus.rnd.random() * 30)),
                    "site_name": f"site{i % 300}.example",
                    "status": ArticleStatus.OK,
                    "authors": [],
                }
            )
    engine = make_engine(url)
    sessions = session_factory(engine)
    with engine.begin() as conn:
        for start in range(0, n, 1000):
            conn.execute(insert(Article), rows[start : min(start + 1000, n)])
    started = time.perf_counter()
    done = drain_backlog(sessions, batch=32, batches=n)
    took = (time.perf_counter() - started) * 1000 / max(done, 1)
    engine.dispose()
    return took


def refine_twice(url: str) -> list[tuple[float, int, int, int, int, float, dict[str, float]]]:
    """In a child process, per run: seconds, articles, moved, split, merged, peak RSS (MB)
    and the seconds of each part (read, cluster, write)."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    out = []
    for _ in range(2):
        started = time.perf_counter()
        report = refine_stories(sessions, window=WINDOW, max_articles=20_000)
        took = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        parts = report.seconds
        out.append((took, report.articles, report.moved, report.split, report.merged, rss, parts))
    engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    from tests.support.services import PostgresServer

    with PostgresServer() as server:
        url = server.create_database()
        upgrade(url)
        print(f"{args.articles} articles over {WINDOW} (PostgreSQL):", flush=True)
        online = load(url, args.articles, args.seed)
        print(f"  reference: online step {online:.1f} ms/article (batches of 32)", flush=True)
        fork = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(1, mp_context=fork) as pool:
            runs = pool.submit(refine_twice, url).result()
        for n, (took, articles, moved, split, merged, rss, parts) in enumerate(runs, start=1):
            detail = ", ".join(f"{part} {seconds:.1f} s" for part, seconds in parts.items())
            print(
                f"  refinement {n}: {took:.1f} s for {articles} articles"
                f" ({took * 1000 / max(articles, 1):.2f} ms/article against {online:.1f} online);"
                f" moved {moved}, split {split},"
                f" merged {merged}; peak RSS {rss:.0f} MB ({detail})"
            )
        print(f"  (this process: peak RSS {peak_rss_mb():.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
