"""Story assignment time as the store grows: 10k, 100k (and 1M) stored articles.

Usage::

    .venv/bin/python bench/stories_scale.py                       # SQLite, 10k and 100k
    .venv/bin/python bench/stories_scale.py --sizes 10000,100000,1000000 \\
        --database-url postgresql+psycopg://user@127.0.0.1/empty_db

For each size a fresh database is migrated and bulk-loaded with that many articles spread over
30 days, already assigned: their stories, centroids (``story_terms``), MinHash sketches and LSH
bands of the originals, and term statistics — the rows ``assign_story`` would have written.
Then ``--probe`` new articles (half continuing a recent story, a tenth syndicated copies, the
rest new events) are assigned one by one, each in its own transaction as the worker does, and
the time per article is printed (median, p99) with the process's peak RSS. Goal (issue 3):
median <= 5 ms, p99 <= 50 ms, flat as the store grows; RSS <= 1 GB at 1M.

Texts are synthetic (a Zipf vocabulary of invented words; each event has its own names and
words), so this measures cost, not quality.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import peak_rss_mb
from sqlalchemy import insert, inspect, text

from models import Article, ArticleStatus, Story, make_engine, session_factory, session_scope
from models.stories_index import ArticleBand, ArticleSketch, StoryProfile, StoryTerm, TermStat
from worker.dedupe.minhash import band_keys, sketch
from worker.migrations import upgrade
from worker.stories.assigner import DEFAULT_CONFIG
from worker.stories.store import assign_story
from worker.stories.text import extract_terms
from worker.stories.vectors import top_terms, weigh

DAYS = 30
VOCABULARY = 50_000
NOW = datetime(2024, 6, 1, tzinfo=UTC)


class Corpus:
    """Synthetic news: general words drawn by Zipf's law plus each event's own words and names."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        weights = [1.0 / (rank + 1) for rank in range(VOCABULARY)]
        self.words = [f"wor{n}d" for n in range(VOCABULARY)]
        self.cum = list(_cumulative(weights))

    def event(self) -> tuple[list[str], list[str]]:
        words = [f"ev{self.rnd.randrange(10**9)}x" for _ in range(25)]
        names = [f"Nam{self.rnd.randrange(10**9)}o" for _ in range(6)]
        return words, names

    def article(self, event: tuple[list[str], list[str]], length: int = 350) -> tuple[str, str]:
        words, names = event
        out: list[str] = []
        for i in range(length):
            r = self.rnd.random()
            if r < 0.12:
                out.append(self.rnd.choice(words))
            elif r < 0.18:
                out.append(self.rnd.choice(names))
            else:
                out.append(self.words[_pick(self.cum, self.rnd.random())])
            if i % 18 == 17:
                out[-1] += "."
        title = " ".join([self.rnd.choice(names), *self.rnd.sample(words, 5)])
        return title, " ".join(out)


def _cumulative(weights: list[float]) -> list[float]:
    total, acc, out = sum(weights), 0.0, []
    for w in weights:
        acc += w / total
        out.append(acc)
    return out


def _pick(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def bulk_load(
    url: str, n_articles: int, corpus: Corpus
) -> list[tuple[int, tuple[list[str], list[str]]]]:
    """Load ``n_articles`` assigned articles; returns (story id, event) of the recent stories."""
    engine = make_engine(url)
    rnd = corpus.rnd
    recent: list[tuple[int, tuple[list[str], list[str]]]] = []
    df: dict[str, int] = {}
    article_id = story_id = 0
    batch: dict[str, list[dict[str, object]]] = {k: [] for k in ("s", "a", "t", "p", "k", "b")}

    def flush() -> None:
        with engine.begin() as conn:
            for key, table in (
                ("s", Story),
                ("a", Article),
                ("t", StoryTerm),
                ("p", StoryProfile),
                ("k", ArticleSketch),
                ("b", ArticleBand),
            ):
                if batch[key]:
                    conn.execute(insert(table), batch[key])
                    batch[key].clear()

    started = time.perf_counter()
    while article_id < n_articles:
        story_id += 1
        size = min(n_articles - article_id, 1 + int(rnd.expovariate(1 / 4)))
        when = NOW - timedelta(days=DAYS * (1 - article_id / n_articles))
        event = corpus.event()
        title, body = corpus.article(event)
        terms = extract_terms(title, body)
        for t in terms.counts:
            df[t] = df.get(t, 0) + size
        vec = weigh(terms, max(1, article_id), df)
        centroid = {t: w * size for t, w in top_terms(vec, DEFAULT_CONFIG.centroid_terms).items()}
        batch["s"].append(
            {
                "id": story_id,
                "headline": title,
                "first_published_at": when,
                "last_published_at": when + timedelta(hours=size),
                "article_count": size,
                "outlet_count": size,
                "keywords": [],
            }
        )
        batch["t"].extend(
            {"story_id": story_id, "term": t, "weight": w} for t, w in centroid.items()
        )
        batch["p"].append(
            {"story_id": story_id, "phrases": {}, "outlets": [], "centroid": centroid}
        )
        sk = sketch(body)
        for k in range(size):
            article_id += 1
            batch["a"].append(
                {
                    "id": article_id,
                    "canonical_url": f"https://site{article_id % 500}.example/a/{article_id}",
                    "url": f"https://site{article_id % 500}.example/a/{article_id}",
                    "title": title,
                    "published_at": when + timedelta(hours=k),
                    "status": ArticleStatus.OK,
                    "story_id": story_id,
                    "authors": [],
                }
            )
            if sk is not None:
                # Each original gets its own sketch (perturbed keys: distinct texts).
                keys = [key ^ rnd.getrandbits(62) if k else key for key in band_keys(sk)]
                batch["k"].append(
                    {
                        "article_id": article_id,
                        "signature": sk.to_bytes(),
                        "shingles": sk.shingles,
                        "published_at": when,
                    }
                )
                batch["b"].extend({"band_key": key, "article_id": article_id} for key in set(keys))
        if NOW - when < DEFAULT_CONFIG.window:
            recent.append((story_id, event))
        if len(batch["a"]) >= 5_000:
            flush()
    flush()
    with engine.begin() as conn:
        rows = [{"term": t, "df": n} for t, n in df.items()] + [{"term": "", "df": n_articles}]
        for i in range(0, len(rows), 10_000):
            conn.execute(insert(TermStat), rows[i : i + 10_000])
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
            for table in ("stories", "articles"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    engine.dispose()
    print(
        f"  loaded {n_articles} articles, {story_id} stories"
        f" in {time.perf_counter() - started:.0f} s"
    )
    return recent


def probe(
    url: str, recent: list[tuple[int, tuple[list[str], list[str]]]], corpus: Corpus, n: int
) -> list[float]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    rnd = corpus.rnd
    times: list[float] = []
    last_text: dict[int, str] = {}
    for i in range(n):
        r = rnd.random()
        if r < 0.5 and recent:
            _sid, event = rnd.choice(recent)
            title, body = corpus.article(event)
        elif r < 0.6 and last_text:
            title, body = "Copy", " ".join(rnd.choice(list(last_text.values())).split()[:250])
        else:
            title, body = corpus.article(corpus.event())
        with session_scope(sessions) as s:
            article = Article(
                canonical_url=f"https://probe.example/{i}",
                url=f"https://probe.example/{i}",
                title=title,
                text=body,
                published_at=NOW + timedelta(minutes=i),
                site_name=f"probe{i % 7}",
                status=ArticleStatus.OK,
            )
            s.add(article)
            s.flush()
            article_id = article.id
        last_text[i % 20] = body
        started = time.perf_counter()
        with session_scope(sessions) as s:
            assign_story(s, article_id)
        times.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--probe", type=int, default=300)
    parser.add_argument(
        "--database-url", help="an EMPTY database, one size per run (default: temp SQLite files)"
    )
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.database_url and (len(sizes) != 1 or not _empty(args.database_url)):
        print("stories_scale: --database-url needs an empty database and a single --sizes value")
        return 2
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{Path(tmp) / 'scale.db'}"
            print(f"{size} stored articles ({url.split(':')[0]}):")
            upgrade(url)
            corpus = Corpus(args.seed)
            recent = bulk_load(url, size, corpus)
            times = probe(url, recent, corpus, args.probe)
            ordered = sorted(times)
            print(
                f"  assign_story: median {statistics.median(times):.1f} ms,"
                f" p99 {ordered[int(0.99 * (len(ordered) - 1))]:.1f} ms,"
                f" max {ordered[-1]:.1f} ms over {len(times)} articles;"
                f" peak RSS {peak_rss_mb():.0f} MB"
            )
    return 0


def _empty(url: str) -> bool:
    engine = make_engine(url)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
