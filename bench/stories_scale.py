"""Story assignment time as the store grows: 10k, 100k and 1M stored articles.

Usage::

    .venv/bin/python bench/stories_scale.py                       # SQLite, 10k and 100k
    .venv/bin/python bench/stories_scale.py --postgres --sizes 10000,100000,1000000
    .venv/bin/python bench/stories_scale.py --sizes 1000000 \\
        --database-url postgresql+psycopg://user@127.0.0.1/empty_db --save-state /tmp/1m.state
    .venv/bin/python bench/stories_scale.py --sizes 1000000 \\
        --database-url postgresql+psycopg://user@127.0.0.1/empty_db --reuse-state /tmp/1m.state
    .venv/bin/python bench/stories_scale.py --postgres --sizes 100000 --batches 32 \\
        --features computed,stored          # features computed under the lock, then stored

For each size a fresh database is migrated and bulk-loaded with that many articles spread over
30 days, already assigned: their stories, centroids (``story_terms``), MinHash sketches and LSH
bands of the originals, and term statistics — the rows the story step would have written.
On Postgres the load uses COPY with the tables' keys, indexes and foreign keys dropped and built
again afterwards (then ``VACUUM ANALYZE``); it runs in a child process, so the peak RSS printed
is the probe's. ``--postgres`` starts a throw-away server (tests/support/services.py) with a
fresh database per size; ``--save-state`` / ``--reuse-state`` probe an already loaded database
again (each probe adds its articles to the store: probe a copy, ``CREATE DATABASE copy TEMPLATE
loaded``, to compare two versions on one state, or draw other articles with ``--probe-seed``).

Then ``--probe`` new articles (half continuing a recent story, a tenth syndicated copies, the
rest new events) are assigned, once per ``--batches`` value: ``1`` is one transaction per
article (``assign_stories(session, [id])``, the reference), ``32`` is 32 per transaction
(``assign_stories``, as the worker's task takes a backlog). Printed: the time per article
(median, p99; in a batch, the batch's time over its size, and the whole batch's time),
statements per article (a cursor listener), the median per outcome (one per transaction
only), the garbage collector's pauses and the process's peak RSS (the bench freezes the
objects it starts with, as a worker process does); with ``--statements``, also the costliest
statements' time and rows per article.
A probe's articles are written with the story features the article task stores beside a
page (``--features stored``, the worker's path: computed untimed, as the task does outside the
story-step lock; their cost is printed apart), or without (``computed``: the story step
computes them under the lock, as before ``worker/stories/features_store.py``).
Before the probes, ``--warm`` articles (default 3200) are assigned untimed in batches of 32,
as a worker that has been running would have: its caches (stems, the document counts it
keeps between batches, ``worker/stories/sql_terms.py``) are warm, not empty.
Goal (issue 3): median <= 5 ms, p99 <= 50 ms, flat as the store grows; RSS <= 1 GB at 1M.

Texts are synthetic (a Zipf vocabulary of invented words; each event has its own names and
words), so this measures cost, not quality. Most of the load is generating them (term
extraction with the pure-Python stemmer, MinHash): ~6 ms per story here.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing
import pickle
import random
import statistics
import sys
import tempfile
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from _common import peak_rss_mb
from sqlalchemy import event, insert, inspect, text
from sqlalchemy.orm import Session

from models import Article, ArticleStatus, Base, Story, make_engine, session_factory, session_scope
from models.story_state import ArticleBand, ArticleSketch, StoryProfile, StoryTerm, TermStat
from worker.dedupe.minhash import band_keys, sketch
from worker.lifecycle import freeze_startup_objects
from worker.migrations import upgrade
from worker.pipeline.story import drain_backlog
from worker.stories.assigner import DEFAULT_CONFIG
from worker.stories.features_store import features_row, store_features, stored_features
from worker.stories.index import StoryDoc, posting_terms
from worker.stories.step import assign_stories
from worker.stories.terms import extract_terms
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
    # The first index with cum[i] >= x (the last one if rounding leaves x above them all).
    return min(bisect_left(cum, x), len(cum) - 1)


class _Sink:
    """Rows to the database in batches: COPY on Postgres, executemany INSERTs on SQLite."""

    TABLES = (Story, Article, StoryTerm, StoryProfile, ArticleSketch, ArticleBand, TermStat)

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.postgres = self.engine.dialect.name == "postgresql"
        self.rows: dict[str, list[dict[str, object]]] = {m.__tablename__: [] for m in self.TABLES}

    def add(self, table: str, row: dict[str, object]) -> None:
        self.rows[table].append(row)

    def flush(self) -> None:
        if self.postgres:
            raw = self.engine.raw_connection()
            try:
                with raw.cursor() as cur:
                    for model in self.TABLES:
                        _copy(cur, model.__tablename__, self.rows[model.__tablename__])
                raw.commit()
            finally:
                raw.close()
        else:
            with self.engine.begin() as conn:
                for model in self.TABLES:
                    rows = self.rows[model.__tablename__]
                    for i in range(0, len(rows), 10_000):
                        conn.execute(insert(model), rows[i : i + 10_000])
        for rows in self.rows.values():
            rows.clear()

    @contextlib.contextmanager
    def without_indexes(self) -> Iterator[None]:
        """Postgres: drop the loaded tables' keys, indexes and foreign keys during the load and
        build them again after it, from their own definitions (the schema ends as migrated)."""
        if not self.postgres:
            yield
            return
        names = [m.__tablename__ for m in self.TABLES]
        with self.engine.begin() as conn:
            constraints = conn.execute(
                text(
                    "SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid),"
                    " c.contype FROM pg_constraint AS c"
                    " WHERE c.contype IN ('p', 'u', 'f') AND (c.conrelid::regclass::text = ANY(:t)"
                    " OR (c.contype = 'f' AND c.confrelid::regclass::text = ANY(:t)))"
                ),
                {"t": names},
            ).all()
            owned = {name for name, *_ in constraints}
            indexes = [
                (name, ddl)
                for name, ddl in conn.execute(
                    text(
                        "SELECT indexname, indexdef FROM pg_indexes"
                        " WHERE schemaname = current_schema() AND tablename = ANY(:t)"
                    ),
                    {"t": names},
                )
                if name not in owned
            ]
            keys = [c for c in constraints if c[3] != "f"]
            foreign = [c for c in constraints if c[3] == "f"]
            for name, table, _ddl, _kind in foreign + keys:
                conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
            for name, _ddl in indexes:
                conn.execute(text(f'DROP INDEX "{name}"'))
        yield
        started = time.perf_counter()
        with self.engine.begin() as conn:
            conn.execute(text("SET maintenance_work_mem = '512MB'"))
            for name, table, ddl, _kind in keys:
                conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}'))
            for _name, ddl in indexes:
                conn.execute(text(ddl))
            for name, table, ddl, _kind in foreign:
                conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}'))
        print(f"  keys and indexes built in {time.perf_counter() - started:.0f} s")

    def finish(self, n_articles: int) -> None:
        if self.postgres:
            with self.engine.begin() as conn:
                for table in ("stories", "articles"):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" (SELECT max(id) FROM {table}))"
                        )
                    )
            # A long-lived store is vacuumed (visibility map set, statistics current).
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        self.engine.dispose()


def _copy(cur: Any, table_name: str, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    table = Base.metadata.tables[table_name]
    # Python-side column defaults (the ORM would apply them); server defaults are left to COPY.
    defaults: dict[str, object] = {}
    for column in table.columns:
        default = column.default
        if column.name in rows[0] or default is None:
            continue
        value = getattr(default, "arg", None)
        defaults[column.name] = value(None) if callable(value) else value
    columns = [c.name for c in table.columns if c.name in rows[0] or c.name in defaults]
    sql = f"COPY {table_name} ({', '.join(columns)}) FROM STDIN"
    with cur.copy(sql) as copy:
        for row in rows:
            copy.write_row([_copy_value(row[c] if c in row else defaults[c]) for c in columns])


def _copy_value(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def bulk_load(url: str, n_articles: int, corpus: Corpus) -> Loaded:
    """Load ``n_articles`` assigned articles; returns (story id, event) of the recent stories."""
    sink = _Sink(url)
    rnd = corpus.rnd
    recent: list[tuple[int, tuple[list[str], list[str]]]] = []
    df: dict[str, int] = {}
    article_id = story_id = pending = 0
    add = sink.add

    started = time.perf_counter()
    with sink.without_indexes():
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
            centroid = {
                t: w * size for t, w in top_terms(vec, DEFAULT_CONFIG.centroid_terms).items()
            }
            add(
                "stories",
                {
                    "id": story_id,
                    "headline": title,
                    "first_published_at": when,
                    "last_published_at": when + timedelta(hours=size),
                    "article_count": size,
                    "outlet_count": size,
                    "keywords": [],
                },
            )
            for t, w in posting_terms(centroid).items():
                add("story_terms", {"story_id": story_id, "term": t, "weight": w})
            add(
                "story_profiles",
                {"story_id": story_id, "phrases": {}, "outlets": [], "centroid": centroid},
            )
            sk = sketch(body)
            for k in range(size):
                article_id += 1
                add(
                    "articles",
                    {
                        "id": article_id,
                        "canonical_url": f"https://site{article_id % 500}.example/a/{article_id}",
                        "url": f"https://site{article_id % 500}.example/a/{article_id}",
                        "title": title,
                        "published_at": when + timedelta(hours=k),
                        "status": ArticleStatus.OK,
                        "story_id": story_id,
                        "authors": [],
                    },
                )
                if sk is not None:
                    # Each original gets its own sketch (perturbed keys: distinct texts).
                    keys = [key ^ rnd.getrandbits(62) if k else key for key in band_keys(sk)]
                    add(
                        "article_sketches",
                        {
                            "article_id": article_id,
                            "signature": sk.to_bytes(),
                            "shingles": sk.shingles,
                            "published_at": when,
                            # Sketched when published (left out, COPY would stamp the load).
                            "added_at": when,
                        },
                    )
                    for key in set(keys):
                        add("article_bands", {"band_key": key, "article_id": article_id})
            pending += size
            if NOW - when < DEFAULT_CONFIG.window:
                recent.append((story_id, event))
            if pending >= 5_000:
                sink.flush()
                pending = 0
        for t, n in df.items():
            add("term_stats", {"term": t, "df": n})
        add("term_stats", {"term": "", "df": n_articles})
        sink.flush()
        print(
            f"  loaded {n_articles} articles, {story_id} stories, {len(df)} terms"
            f" in {time.perf_counter() - started:.0f} s"
        )
    sink.finish(n_articles)
    print(f"  ready in {time.perf_counter() - started:.0f} s")
    return Loaded(recent, rnd.getstate())


class Loaded:
    """What the probe needs from the load: the recent stories' events and the RNG's state."""

    def __init__(self, recent: list[tuple[int, tuple[list[str], list[str]]]], state: object):
        self.recent = recent
        self.state = state


def probe(
    url: str,
    recent: list[tuple[int, tuple[list[str], list[str]]]],
    corpus: Corpus,
    n: int,
    batch: int = 1,
    drain: str | None = None,
    features: str = "stored",
) -> Probe:
    """Assign ``n`` new articles, ``batch`` per transaction (``assign_stories``); with
    ``drain`` ("plain" or "prepared"), all ``n`` wait first and ``drain_backlog`` works them
    off, each next batch's features computed during the write before it when "prepared".

    ``features``: "stored", each article is written with its story features as the article
    task writes them (``worker.stories.features_store``, untimed: the task's work, outside
    the lock), so the story step reads them; "computed", without, so the step computes them
    under the lock (the way before)."""
    engine = make_engine(url)
    statements = [0]
    found = Probe(batch, drain, features)
    # Per statement of the story step (not the probe's own inserts): time and rows.
    timed = [False]
    started_at = [0.0]
    gc_started = [0.0]

    def _collected(phase: str, info: dict[str, int]) -> None:
        # The garbage collector's pauses inside the timed story step, by generation.
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif timed[0]:
            found.gc_seconds += time.perf_counter() - gc_started[0]
            found.gc_runs[info["generation"]] += 1

    gc.callbacks.append(_collected)

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: object) -> None:
        statements[0] += 1
        started_at[0] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _time(_conn: object, cursor: Any, sql: str, *_args: object) -> None:
        if timed[0]:
            spent = found.by_statement.setdefault(_statement_label(sql), [0, 0.0, 0])
            spent[0] += 1
            spent[1] += time.perf_counter() - started_at[0]
            spent[2] += max(cursor.rowcount or 0, 0)

    sessions = session_factory(engine)
    rnd = corpus.rnd
    last_text: dict[int, str] = {}
    run = f"{time.time_ns():x}"  # probe URLs unique across runs on one database
    # A long-running worker has stemmed the common words and recent names before (the load
    # ran in another process): warm this process's stem cache with them, well under its bound.
    seen = [w for _sid, (words, names) in recent[-8_000:] for w in (*words, *names)]
    extract_terms(None, " ".join([*corpus.words, *seen]))
    minute = 0

    def new_article() -> int:
        nonlocal minute
        r = rnd.random()
        if r < 0.5 and recent:
            _sid, ev = rnd.choice(recent)
            title, body = corpus.article(ev)
        elif r < 0.6 and last_text:
            title, body = "Copy", " ".join(rnd.choice(list(last_text.values())).split()[:250])
        else:
            title, body = corpus.article(corpus.event())
        with session_scope(sessions) as s:
            article = Article(
                canonical_url=f"https://probe.example/{run}/{minute}",
                url=f"https://probe.example/{run}/{minute}",
                title=title,
                text=body,
                published_at=NOW + timedelta(minutes=minute),
                site_name=f"probe{minute % 7}",
                status=ArticleStatus.OK,
            )
            s.add(article)
            s.flush()
            article_id = article.id
            if features == "stored":
                _store_features(s, article, found)
        last_text[minute % 20] = body
        minute += 1
        return article_id

    if drain is not None:
        # A backlog: all the articles wait first, then one drain works them off as a task does.
        for _ in range(n):
            new_article()
        mark = [0.0]

        def batch_done(ids: Sequence[int]) -> None:
            now = time.perf_counter()
            found.batches.append((now - mark[0]) * 1000)
            found.statements.append((statements[0] - before[0]) / len(ids))
            mark[0], before[0] = now, statements[0]

        before = [statements[0]]
        timed[0] = True
        mark[0] = time.perf_counter()
        drain_backlog(
            sessions,
            DEFAULT_CONFIG,
            batch=batch,
            batches=-(-n // batch),
            prepare=drain == "prepared",
            on_batch=batch_done,
        )
        timed[0] = False
    for _ in range(0, n if drain is None else 0, batch):
        article_ids = [new_article() for _ in range(batch)]
        before_batch = statements[0]
        started = time.perf_counter()
        timed[0] = True
        with session_scope(sessions) as s:
            results = assign_stories(s, article_ids)
        timed[0] = False
        elapsed = (time.perf_counter() - started) * 1000
        found.batches.append(elapsed)
        found.statements.append((statements[0] - before_batch) / batch)
        for result in results:
            method = "?" if result is None else ("new" if result.new_story else result.method)
            found.by_method.setdefault(method, []).append(elapsed / batch)
    gc.callbacks.remove(_collected)
    engine.dispose()
    return found


def _store_features(s: Session, article: Article, found: Probe) -> None:
    """What the article task adds to an article's final write: its story features (timed
    apart: computed and encoded; decoded and checked, as the story step does)."""
    columns = {"title": article.title, "text": article.text, "status": article.status}
    started = time.perf_counter()
    row = features_row(article.id, columns, DEFAULT_CONFIG)
    found.encode_seconds.append(time.perf_counter() - started)
    assert row is not None
    store_features(s, row)
    started = time.perf_counter()
    doc = StoryDoc(article.id, article.title, article.text)
    assert stored_features(doc, DEFAULT_CONFIG, row["fingerprint"], row["data"]) is not None
    found.decode_seconds.append(time.perf_counter() - started)


class Probe:
    """Times of one probe: per transaction, and per article (a transaction's time / its size)."""

    def __init__(self, batch: int, drain: str | None = None, features: str = "stored") -> None:
        self.batch = batch
        self.drain = drain
        self.features = features
        # The article task's share (``features="stored"``): features computed and encoded,
        # and the story step's decoding and check, per article.
        self.encode_seconds: list[float] = []
        self.decode_seconds: list[float] = []
        self.batches: list[float] = []
        self.statements: list[float] = []
        self.by_method: dict[str, list[float]] = {}
        # Statement label -> [executions, seconds, rows] (a cursor listener).
        self.by_statement: dict[str, list[Any]] = {}
        self.gc_seconds = 0.0
        self.gc_runs = [0, 0, 0]  # collections of generation 0, 1, 2

    def report(self, reference: Probe | None) -> None:
        per_article = [t / self.batch for t in self.batches]
        median = statistics.median(per_article)
        label = (
            "one per transaction" if self.batch == 1 else f"assign_stories, {self.batch} per batch"
        )
        if self.drain is not None:
            label = f"backlog drain, {self.batch} per batch, {self.drain}"
        label += f", features {self.features}"
        versus = ""
        if reference is not None:
            ref = statistics.median([t / reference.batch for t in reference.batches])
            what = "unprepared drain before it" if self.drain else "one-per-transaction"
            if reference.batch == self.batch and reference.features != self.features:
                what = f"features-{reference.features}"
            versus = f" ({ref / median:.2f}x the {what} reference, {ref:.1f} ms)"
        print(
            f"  {label}: per article median {median:.1f} ms{versus},"
            f" p99 {_p99(per_article):.1f} ms, max {max(per_article):.1f} ms"
            f" over {len(per_article) * self.batch} articles;"
            f" {statistics.mean(self.statements):.1f} statements per article;"
            f" peak RSS {peak_rss_mb():.0f} MB"
        )
        n = len(per_article) * self.batch
        if self.encode_seconds:
            print(
                "    the article task's features (outside the timed step): computed and"
                f" encoded, median {statistics.median(self.encode_seconds) * 1000:.2f} ms;"
                " read back (fingerprint checked, decoded),"
                f" median {statistics.median(self.decode_seconds) * 1000:.2f} ms"
            )
        print(
            f"    garbage collection: {self.gc_seconds * 1000 / n:.2f} ms per article"
            f" ({'/'.join(map(str, self.gc_runs))} collections of generation 0/1/2)"
        )
        if self.batch > 1:
            methods = ", ".join(f"{len(v)} {m}" for m, v in sorted(self.by_method.items()))
            print(
                f"    a whole batch: median {statistics.median(self.batches):.1f} ms,"
                f" p99 {_p99(self.batches):.1f} ms" + (f" ({methods})" if methods else "")
            )
        else:
            for method, values in sorted(self.by_method.items()):
                median = statistics.median(values)
                print(f"    {method}: {len(values)} articles, median {median:.1f} ms")
        sys.stdout.flush()

    def report_statements(self, top: int = 8) -> None:
        """Where the time per article went: the costliest statements (the driver's side of
        each included), then the rest: Python, and on SQLite reading the rows, which happens
        after the listener's "after" (it also reports no row count for a SELECT there)."""
        n = len(self.batches) * self.batch
        total = sum(self.batches) / n
        ranked = sorted(self.by_statement.items(), key=lambda kv: -kv[1][1])
        in_sql = sum(v[1] for v in self.by_statement.values()) * 1000 / n
        print(f"    statements: {in_sql:.2f} of {total:.2f} ms per article (the mean)")
        for label, (count, seconds, rows) in ranked[:top]:
            print(
                f"      {seconds * 1000 / n:6.2f} ms  {count / n:5.2f} per article,"
                f" {rows / count:7.1f} rows each: {label}"
            )
        print(f"      {total - in_sql:6.2f} ms  the rest (Python)")


def _statement_label(sql: str) -> str:
    # The statement's first words name it well enough (the held write: its first CTE).
    return " ".join(sql.split())[:72]


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))]


def _load_in_child(url: str, size: int, seed: int) -> Loaded:
    return bulk_load(url, size, Corpus(seed))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--probe", type=int, default=300)
    parser.add_argument(
        "--batches",
        default="1,32",
        help="articles per transaction, one probe each (default 1,32: the one-per-transaction"
        " reference, then the worker's default batch)",
    )
    parser.add_argument(
        "--database-url", help="an EMPTY database, one size per run (default: temp SQLite files)"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="start a throw-away PostgreSQL server (tests/support/services.py), a fresh"
        " database per size, stopped at the end",
    )
    parser.add_argument(
        "--save-state", help="with --database-url: keep what the probe needs in this file"
    )
    parser.add_argument(
        "--reuse-state",
        help="with --database-url: skip the load, probe the database a --save-state run loaded",
    )
    parser.add_argument(
        "--warm",
        type=int,
        default=3200,
        help="articles assigned untimed before the probes, 32 per batch (a running worker's"
        " caches are warm)",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="after each probe, the time per article of its costliest statements",
    )
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="then drain backlogs of --probe articles as a task does (worker.pipeline.story."
        "drain_backlog, batches of 32), without and with the next batch's features prepared"
        " during each write, alternated twice",
    )
    parser.add_argument(
        "--features",
        default="stored",
        help="how the probes' articles come: 'stored', with the story features the article"
        " task stores (the worker's path), or 'computed', without (the story step computes"
        " them under the lock, as before); several, comma-separated, probe each in turn",
    )
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--probe-seed",
        type=int,
        help="draw the probe's articles from another stream (to probe an already probed"
        " database: the same stream again would be exact copies of its last probe)",
    )
    args = parser.parse_args()
    # As a worker process does when it starts (worker/lifecycle.py): the objects it holds
    # now (modules, classes, mappings) are not walked by every full collection.
    freeze_startup_objects()
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    modes = args.features.split(",")
    if not set(modes) <= {"stored", "computed"}:
        print("stories_scale: --features takes 'stored', 'computed' or both, comma-separated")
        return 2
    if args.database_url and len(sizes) != 1:
        print("stories_scale: --database-url takes a single --sizes value")
        return 2
    if args.database_url and not args.reuse_state and not _empty(args.database_url):
        print("stories_scale: --database-url needs an empty database (or --reuse-state)")
        return 2
    with contextlib.ExitStack() as stack:
        server = None
        if args.postgres:
            from tests.support.services import PostgresServer

            server = stack.enter_context(PostgresServer())
        for size in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                url = args.database_url or (
                    server.create_database()
                    if server is not None
                    else f"sqlite:///{Path(tmp) / 'scale.db'}"
                )
                print(f"{size} stored articles ({url.split(':')[0]}):", flush=True)
                corpus = Corpus(args.seed)
                if args.reuse_state:
                    with open(args.reuse_state, "rb") as f:
                        loaded = Loaded(*pickle.load(f))
                else:
                    upgrade(url)
                    # In a child process, so the peak RSS printed is the probe's (the worker's
                    # path), not the loader's term counts.
                    fork = multiprocessing.get_context("fork")
                    with ProcessPoolExecutor(1, mp_context=fork) as pool:
                        loaded = pool.submit(_load_in_child, url, size, args.seed).result()
                    if args.save_state:
                        with open(args.save_state, "wb") as f:
                            pickle.dump((loaded.recent, loaded.state), f)
                corpus.rnd.setstate(loaded.state)
                if args.probe_seed is not None:
                    corpus.rnd.seed(args.probe_seed)
                if args.warm:
                    started = time.perf_counter()
                    probe(url, loaded.recent, corpus, args.warm, 32, features=modes[0])
                    took = time.perf_counter() - started
                    print(f"  warmed up with {args.warm} articles (untimed, {took:.0f} s)")
                # One transaction per article first: the reference the batches are compared
                # with, on the same store (each probe adds its articles to it).
                reference = None
                for batch in batches:
                    for mode in modes:
                        found = probe(url, loaded.recent, corpus, args.probe, batch, features=mode)
                        found.report(reference)
                        if args.statements:
                            found.report_statements()
                        reference = reference or found
                if args.backlog:
                    plain = None
                    for drain in ("plain", "prepared", "plain", "prepared"):
                        found = probe(url, loaded.recent, corpus, args.probe, 32, drain)
                        found.report(plain if drain == "prepared" else None)
                        if args.statements:
                            found.report_statements()
                        plain = found if drain == "plain" else plain
                if server is not None and not args.database_url:
                    server.drop_database(url)
    return 0


def _empty(url: str) -> bool:
    engine = make_engine(url)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
