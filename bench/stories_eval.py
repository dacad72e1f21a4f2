"""Same-event clustering quality: ECB+ and the seed pair, ours against plain TF-IDF.

Usage (the TF-IDF reference needs scikit-learn: ``pip install -e '.[bench]'``)::

    .venv/bin/python bench/stories_eval.py                 # ~3 minutes on 2 cores
    .venv/bin/python bench/stories_eval.py --cli-orders all   # the CLI run in all 4 orders
    .venv/bin/python bench/stories_eval.py --labelled SET.jsonl   # any labelled set instead
    .venv/bin/python bench/stories_eval.py --cli-only      # only the `storywire cluster` runs

Prints B-cubed precision / recall / F1 and pairwise F1 on ECB+ (982 articles, 86 events in 43
topics; each topic holds two different events of the same kind) for

- the headline: ``storywire cluster IN --output OUT`` run as a subprocess (``python -m worker
  cluster``, temporary SQLite database, ``STORYWIRE_DATA_DIR`` in a temp dir) on one JSON-lines
  file holding the ECB+ documents followed by the seed pair and its same-day distractor; OUT's
  ``story_id`` is scored against the gold events, overall and on each topic half (odd / even
  topics), with the CLI run's wall time per article. ECB+ has no dates, so its lines carry no
  ``published_at`` and go in file order; the seed-pair lines are dated and come last;
- the dev variants of ``stories_devsets.py`` (dated, titles only, headline length, and their
  dated forms) through ``storywire cluster`` too, against the plain TF-IDF single pass at its
  best threshold in hindsight (with a 3-day window on the dated ones), all and per topic half;
- the online pass alone, in memory: ``worker.stories.assign`` on ``InMemoryStoryIndex`` with
  the shipped ``DEFAULT_CONFIG`` (all layers: exact and syndicated copies, then same-event
  matching), one article at a time — the same assigner without the database, fast enough to sweep;
- the reference: plain TF-IDF cosine, single pass against cluster centroids, IDF fitted on the
  whole corpus beforehand (which favours it), at its best threshold found in this run;
- a threshold sweep of ours, and the topic-halves check: tune the join threshold on the odd
  topics and score the even ones with it, and the other way round;
- a bound: how the shipped defaults decide "is this a new event?" (first stories missed,
  false alarms), and what ours would score with that one decision perfect (the first article
  of each gold event opens a story; the rest decided as shipped) at join thresholds 0.2-0.35;
- the seed pair (NYT and AP on Putin in Minsk) plus a same-day article about a different event
  of the war, written for this benchmark: the pair must be one story, the third must not join.

ECB+ articles carry no dates, so the time kernel and window play no part here. Article order
matters to any single-pass method: we report the file order (all articles of one event, then
the other event of the topic — the order real dates would give) and three seeded shuffles.
Reads ``$STORYWIRE_SHARED_DATA`` or ``../shared/data``; prints a note and exits 0 without it.

``--labelled SET.jsonl`` scores the shipped defaults on another labelled set instead: the
``storywire cluster`` input lines plus each one's gold ``"event"`` (dated sets exercise the
time window and kernel, which ECB+ cannot). Printed: B-cubed P / R / F1 and pairwise F1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from _common import REPO_ROOT, shared_data
from stories_devsets import VARIANTS, variant

from worker.stories import DEFAULT_CONFIG, InMemoryStoryIndex, StoryConfig, StoryDoc, assign

SHUFFLE_SEEDS = (0, 1, 2)
THRESHOLDS = (0.25, 0.275, 0.3, 0.325, 0.35, 0.375, 0.4, 0.45)
ORACLE_THRESHOLDS = (0.2, 0.25, 0.3, 0.35)
REFERENCE_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
#: The reference's time window on dated sets (the issue's: a plain single pass, 3 days).
REFERENCE_WINDOW_DAYS = 3.0

Doc = dict[str, str]
Order = list[int]

# --- the seed pair's negative: our own text about another event of the same war, same day ---
DISTRACTOR_TITLE = "Drones hit Kyiv power grid as Ukraine braces for a dark winter"
DISTRACTOR_TEXT = """KYIV, Ukraine - Waves of explosive drones struck energy facilities in and
around Kyiv overnight into Monday, knocking out electricity and water in several districts of the
Ukrainian capital as temperatures fell below freezing, city officials said.

Mayor Vitali Klitschko said emergency crews were working to restore power to critical
infrastructure and that hospitals were running on generators. Ukraine's air force said its air
defences shot down most of the more than thirty drones launched overnight, many of them
Iranian-made Shahed models, but some hit substations that feed the city's heating plants.

The national grid operator, Ukrenergo, announced emergency blackouts in Kyiv and in the
surrounding region and said repairs could take days. Officials urged residents to store water,
charge phones and limit their use of electric heaters once power returns.

Since October, Moscow has repeatedly targeted Ukraine's power stations and transmission lines with
missiles and drones. Ukrainian leaders call the strikes an attempt to freeze civilians into
submission, and they have asked Western governments for more air defence systems, spare
transformers and generators to get through the winter.

President Volodymyr Zelensky said in his nightly address that engineers had restored some supply
by evening and thanked repair crews working in the cold."""


def bcubed(
    pred: Mapping[str, Hashable], gold: Mapping[str, Hashable]
) -> tuple[float, float, float]:
    """B-cubed precision, recall, F1 (Bagga & Baldwin), averaged over items."""
    by_pred, by_gold = _groups(pred), _groups(gold)
    p = r = 0.0
    for item in gold:
        mine, truth = by_pred[pred[item]], by_gold[gold[item]]
        common = len(mine & truth)
        p += common / len(mine)
        r += common / len(truth)
    p, r = p / len(gold), r / len(gold)
    return p, r, 2 * p * r / (p + r)


def pairwise_f1(pred: Mapping[str, Hashable], gold: Mapping[str, Hashable]) -> float:
    pp, gp = _pairs(pred), _pairs(gold)
    tp = len(pp & gp)
    if not tp:
        return 0.0
    p, r = tp / len(pp), tp / len(gp)
    return 2 * p * r / (p + r)


def _groups(labels: Mapping[str, Hashable]) -> dict[Hashable, set[str]]:
    groups: dict[Hashable, set[str]] = defaultdict(set)
    for item, label in labels.items():
        groups[label].add(item)
    return groups


def _pairs(labels: Mapping[str, Hashable]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for members in _groups(labels).values():
        ordered = sorted(members)
        out.update((a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :])
    return out


def run_ours(
    docs: Sequence[Doc], order: Order, config: StoryConfig
) -> tuple[dict[str, int], float]:
    """Story of each doc id, and ms per article."""
    index = InMemoryStoryIndex()
    started = time.perf_counter()
    for n, i in enumerate(order, start=1):
        assign(index, StoryDoc(id=n, title=docs[i]["title"], text=docs[i]["text"]), config)
    ms = (time.perf_counter() - started) * 1000 / max(1, len(order))
    return {docs[i]["doc_id"]: index.story_of(n) for n, i in enumerate(order, start=1)}, ms


@dataclass(frozen=True)
class FirstStories:
    """A replay's stories and its "new event?" decisions (TDT's first-story detection)."""

    labels: dict[str, int]
    missed: int  # first articles of a gold event that joined an existing story
    firsts: int
    alarms: int  # other articles that opened a story of their own
    others: int


def first_stories(
    docs: Sequence[Doc], order: Order, config: StoryConfig, *, perfect: bool = False
) -> FirstStories:
    """Ours in ``order``, counting its first-story decisions; with ``perfect`` that decision
    is made right (the first article of each gold event opens a story of its own, every other
    one is decided by ``assign``): a bound, not a method, showing how much of the gap is the
    one decision a single pass cannot take back."""
    index = InMemoryStoryIndex()
    opened: set[str] = set()
    never_join = config.with_(join_threshold=float("inf"))  # a new story, whatever it scores
    missed = alarms = 0
    for n, i in enumerate(order, start=1):
        event = docs[i]["event_cluster"]
        first = event not in opened
        opened.add(event)
        doc = StoryDoc(id=n, title=docs[i]["title"], text=docs[i]["text"])
        new = assign(index, doc, never_join if first and perfect else config).new_story
        missed += first and not new
        alarms += new and not first
    labels = {docs[i]["doc_id"]: index.story_of(n) for n, i in enumerate(order, start=1)}
    return FirstStories(labels, missed, len(opened), alarms, len(order) - len(opened))


def run_reference(
    docs: Sequence[Doc], order: Order, threshold: float, days: Sequence[float] | None = None
) -> dict[str, int]:
    """Plain TF-IDF cosine, single pass against centroids (IDF fitted on all docs first);
    with ``days`` (each doc's publication day), a story takes no article more than
    ``REFERENCE_WINDOW_DAYS`` after its last one."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(
        [d["title"] + " " + d["text"] for d in docs]
    )
    dense = matrix.toarray().astype(np.float32)
    sums: list[np.ndarray] = []
    last: list[float] = []
    centroids = np.zeros((0, dense.shape[1]), dtype=np.float32)
    labels: dict[str, int] = {}
    for i in order:
        x = dense[i]
        if len(sums):
            scores = centroids @ x
            if days is not None:
                stale = days[i] - np.array(last) > REFERENCE_WINDOW_DAYS
                scores = np.where(stale, -1.0, scores)
            best = int(scores.argmax())
            if scores[best] >= threshold:
                sums[best] = sums[best] + x
                centroids[best] = sums[best] / np.linalg.norm(sums[best])
                labels[docs[i]["doc_id"]] = best
                if days is not None:
                    last[best] = max(last[best], days[i])
                continue
        sums.append(x.copy())
        last.append(days[i] if days is not None else 0.0)
        centroids = np.vstack([centroids, x[None, :]])
        labels[docs[i]["doc_id"]] = len(sums) - 1
    return labels


def orders_for(docs: Sequence[Doc]) -> dict[str, Order]:
    base = list(range(len(docs)))
    orders = {"file order": base}
    for seed in SHUFFLE_SEEDS:
        orders[f"shuffle {seed}"] = random.Random(seed).sample(base, len(base))
    return orders


def score_all(
    docs: Sequence[Doc], run: Callable[[Order], dict[str, int]]
) -> dict[str, tuple[float, float, float, float]]:
    gold = {d["doc_id"]: d["event_cluster"] for d in docs}
    out = {}
    for name, order in orders_for(docs).items():
        pred = run(order)
        out[name] = (*bcubed(pred, gold), pairwise_f1(pred, gold))
    return out


def mean_f1(scores: Mapping[str, tuple[float, float, float, float]]) -> float:
    return statistics.mean(s[2] for s in scores.values())


def print_scores(label: str, scores: Mapping[str, tuple[float, float, float, float]]) -> None:
    for name, (p, r, f, pf) in scores.items():
        print(f"  {label:<34} {name:<11} P {p:.3f}  R {r:.3f}  F1 {f:.3f}   pairwise F1 {pf:.3f}")
    p, r, f, pf = (statistics.mean(s[k] for s in scores.values()) for k in range(4))
    print(f"  {label:<34} {'mean':<11} P {p:.3f}  R {r:.3f}  F1 {f:.3f}   pairwise F1 {pf:.3f}")


def run_cli(records: Sequence[Mapping[str, object]]) -> tuple[dict[str, dict[str, object]], float]:
    """Run ``storywire cluster`` on ``records``; its output lines by id, and wall ms/article.

    The wall time covers the whole command (interpreter start, migrating the temporary
    database, storing the documents, the story step), so it is an upper bound per article."""
    with tempfile.TemporaryDirectory(prefix="stories-eval-") as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        with src.open("w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record) + "\n")
        env = {**os.environ, "STORYWIRE_DATA_DIR": str(Path(tmp) / "data")}
        env.pop("STORYWIRE_DATABASE_URL", None)  # the command's own temporary database
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "worker", "cluster", str(src), "--output", str(out)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"storywire cluster failed ({done.returncode}):\n{done.stderr}")
        lines = [json.loads(line) for line in out.open(encoding="utf-8") if line.strip()]
    return {str(line["id"]): line for line in lines}, elapsed * 1000 / max(1, len(records))


def seed_records(data: Path) -> tuple[list[dict[str, object]], dict[str, str]]:
    """The seed pair and the distractor as cluster input lines (dated), and their gold events."""
    nyt_text, ap_title, ap_text = _seed_texts(data)
    records: list[dict[str, object]] = [
        {"id": "seed-nyt", "title": "", "text": nyt_text,
         "published_at": "2022-12-18T12:00:00+00:00", "source": "nytimes.com"},
        {"id": "seed-distractor", "title": DISTRACTOR_TITLE, "text": DISTRACTOR_TEXT,
         "published_at": "2022-12-19T09:00:00+00:00", "source": "storywire-bench"},
        {"id": "seed-ap", "title": ap_title, "text": ap_text,
         "published_at": "2022-12-19T15:00:00+00:00", "source": "apnews.com"},
    ]  # fmt: skip
    gold = {"seed-nyt": "minsk", "seed-ap": "minsk", "seed-distractor": "kyiv"}
    return records, gold


def cli_eval(data: Path, docs: Sequence[Doc], orders: Sequence[str]) -> None:
    """The headline figures: ``storywire cluster`` on ECB+ (+ the seed pair), scored."""
    seeds, seed_gold = seed_records(data)
    gold = {d["doc_id"]: d["event_cluster"] for d in docs}
    halves = {
        "odd topics": {d["doc_id"] for d in docs if int(d["topic"]) % 2 == 1},
        "even topics": {d["doc_id"] for d in docs if int(d["topic"]) % 2 == 0},
    }
    print("\nHeadline: `storywire cluster IN --output OUT` (subprocess, temporary SQLite database;")
    print("ECB+ lines undated, in file order; then the dated seed pair + distractor):")
    all_orders = orders_for(docs)
    scores: dict[str, tuple[float, float, float, float]] = {}
    for name in orders:
        records: list[dict[str, object]] = [
            {"id": docs[i]["doc_id"], "title": docs[i]["title"], "text": docs[i]["text"]}
            for i in all_orders[name]
        ]
        out, ms = run_cli([*records, *seeds])
        pred = {doc_id: out[doc_id]["story_id"] for doc_id in gold}
        p, r, f, pf = (*bcubed(pred, gold), pairwise_f1(pred, gold))
        scores[name] = (p, r, f, pf)
        print(
            f"  cluster CLI  {name:<11} B-cubed P {p:.3f}  R {r:.3f}  F1 {f:.3f}"
            f"   pairwise F1 {pf:.3f}   ({ms:.1f} ms/article wall, {len(records) + 3} lines)"
        )
        for half, ids in halves.items():
            hp, hr, hf = bcubed({i: pred[i] for i in ids}, {i: gold[i] for i in ids})
            hpf = pairwise_f1({i: pred[i] for i in ids}, {i: gold[i] for i in ids})
            print(
                f"    {half:<12} B-cubed P {hp:.3f}  R {hr:.3f}  F1 {hf:.3f}"
                f"   pairwise F1 {hpf:.3f}"
            )
        story = {i: out[i]["story_id"] for i in seed_gold}
        together = story["seed-nyt"] == story["seed-ap"]
        apart = story["seed-distractor"] not in (story["seed-nyt"], story["seed-ap"])
        print(
            f"    seed pair    NYT+AP one story: {'yes' if together else 'NO'};"
            f" distractor apart: {'yes' if apart else 'NO'}"
        )
    if len(scores) > 1:
        print_scores("cluster CLI", scores)


def variants_eval(docs: Sequence[Doc]) -> None:
    """Each dev variant of ECB+ (``stories_devsets.py``) through ``storywire cluster``, against
    the plain TF-IDF single pass at its best threshold in hindsight (3-day window if dated)."""
    print("\nDev variants through `storywire cluster` (bench/stories_devsets.py), B-cubed F1")
    print("(all / odd topics / even topics) against the reference single pass at its best")
    print("threshold in hindsight (3-day window on dated variants):")
    reference = importlib.util.find_spec("sklearn") is not None
    if not reference:
        print("  (no reference: it needs scikit-learn, `pip install -e '.[bench]'`)")
    for name in VARIANTS:
        records = variant(docs, name)
        gold = {str(r["id"]): str(r["event"]) for r in records}
        topic = {str(r["id"]): int(str(r["topic"])) for r in records}
        lines = [{k: v for k, v in r.items() if k not in ("event", "topic")} for r in records]
        out, ms = run_cli(lines)
        pred = {i: out[i]["story_id"] for i in gold}
        ours = _thirds(pred, gold, topic)
        rows: list[Doc] = [
            {"doc_id": str(r["id"]), "title": str(r["title"]), "text": str(r["text"])}
            for r in records
        ]
        days = (
            [datetime.fromisoformat(str(r["published_at"])).timestamp() / 86400 for r in records]
            if name.startswith("dated")
            else None
        )
        compared = ""
        if reference:
            best = max(
                (
                    (t, _thirds(run_reference(rows, list(range(len(rows))), t, days), gold, topic))
                    for t in REFERENCE_THRESHOLDS
                ),
                key=lambda found: found[1][0],
            )
            compared = (
                f"   reference @ {best[0]} {best[1][0]:.3f} ({best[1][1]:.3f} / {best[1][2]:.3f})"
            )
        print(
            f"  {name:<16} ours {ours[0]:.3f} ({ours[1]:.3f} / {ours[2]:.3f}){compared}"
            f"   ({ms:.1f} ms/article wall)"
        )


def _thirds(
    pred: Mapping[str, Hashable], gold: Mapping[str, str], topic: Mapping[str, int]
) -> tuple[float, float, float]:
    """B-cubed F1 on all items, on the odd topics and on the even ones."""
    out = []
    for keep in (lambda t: True, lambda t: t % 2 == 1, lambda t: t % 2 == 0):
        ids = [i for i in gold if keep(topic[i])]
        out.append(bcubed({i: pred[i] for i in ids}, {i: gold[i] for i in ids})[2])
    return out[0], out[1], out[2]


def ecb_plus(data: Path, cli_orders: Sequence[str], cli_only: bool = False) -> None:
    path = data / "clustering/ecbplus/docs.jsonl"
    docs: list[Doc] = [json.loads(line) for line in path.open(encoding="utf-8")]
    print(f"ECB+: {len(docs)} articles, {len({d['event_cluster'] for d in docs})} events")
    cli_eval(data, docs, cli_orders)
    variants_eval(docs)
    if cli_only:
        return
    print("\nThe online pass alone (no refinement), in memory:")

    times: list[float] = []

    def ours(config: StoryConfig, subset: Sequence[Doc]) -> Callable[[Order], dict[str, int]]:
        def run(order: Order) -> dict[str, int]:
            labels, ms = run_ours(subset, order, config)
            times.append(ms)
            return labels

        return run

    shipped = score_all(docs, ours(DEFAULT_CONFIG, docs))
    print(f"\nOurs in memory, shipped defaults (join {DEFAULT_CONFIG.join_threshold}):")
    print_scores("ours", shipped)
    print(f"  speed: {statistics.median(times):.2f} ms/article (in-memory index, all layers)")

    print("\nReference: plain TF-IDF single pass, threshold swept (best in this run):")
    if importlib.util.find_spec("sklearn") is None:
        print("  (no reference: it needs scikit-learn, `pip install -e '.[bench]'`)")
    else:
        best_ref = max(
            (
                (t, score_all(docs, lambda o, t=t: run_reference(docs, o, t)))
                for t in REFERENCE_THRESHOLDS
            ),
            key=lambda ts: mean_f1(ts[1]),
        )
        print_scores(f"reference @ {best_ref[0]} (best)", best_ref[1])

    print("\nOurs, join threshold swept (mean over the 4 orders):")
    for t in THRESHOLDS:
        s = score_all(docs, ours(DEFAULT_CONFIG.with_(join_threshold=t), docs))
        p, r, f, pf = (statistics.mean(v[k] for v in s.values()) for k in range(4))
        mark = "  <- shipped" if t == DEFAULT_CONFIG.join_threshold else ""
        print(f"  join {t:<6} P {p:.3f}  R {r:.3f}  F1 {f:.3f}   pairwise F1 {pf:.3f}{mark}")

    print("\nFirst-story detection (is this article a new event?), shipped defaults:")
    for name, order in orders_for(docs).items():
        fs = first_stories(docs, order, DEFAULT_CONFIG)
        print(
            f"  {name:<11} first articles of an event that joined another story"
            f" {fs.missed}/{fs.firsts}, other articles that opened a story {fs.alarms}/{fs.others}"
        )
    print(
        "Bound: ours with that decision perfect (the first article of each gold event opens a"
        "\nstory, all others decided as shipped; mean over the 4 orders):"
    )
    for t in ORACLE_THRESHOLDS:
        config = DEFAULT_CONFIG.with_(join_threshold=t)
        s = score_all(docs, lambda o, c=config: first_stories(docs, o, c, perfect=True).labels)
        p, r, f, pf = (statistics.mean(v[k] for v in s.values()) for k in range(4))
        print(f"  join {t:<6} P {p:.3f}  R {r:.3f}  F1 {f:.3f}   pairwise F1 {pf:.3f}")

    print("\nTopic halves: tune the join threshold on one half, score the other with it")
    halves = {
        "odd": [d for d in docs if int(d["topic"]) % 2 == 1],
        "even": [d for d in docs if int(d["topic"]) % 2 == 0],
    }
    for tune, test in (("odd", "even"), ("even", "odd")):
        tuned = max(
            THRESHOLDS,
            key=lambda t: mean_f1(
                score_all(halves[tune], ours(DEFAULT_CONFIG.with_(join_threshold=t), halves[tune]))
            ),
        )
        held_out = score_all(
            halves[test], ours(DEFAULT_CONFIG.with_(join_threshold=tuned), halves[test])
        )
        default = score_all(halves[test], ours(DEFAULT_CONFIG, halves[test]))
        print(
            f"  tuned on {tune:<4} -> join {tuned}; on {test}: F1 {mean_f1(held_out):.3f}"
            f" (shipped default on {test}: {mean_f1(default):.3f})"
        )


def _seed_texts(data: Path) -> tuple[str, str, str]:
    """NYT text, AP headline, AP text of the seed pair."""
    folder = data / "seed-pair"
    nyt = (folder / "nyt-2022-12-18.txt").read_text(encoding="utf-8")
    ap = (folder / "ap-2022-12-19.txt").read_text(encoding="utf-8")
    # The NYT file opens with a "date ... author" header line and has no headline; the AP file's
    # first line is its headline. Both keep whatever boilerplate the page had.
    nyt_text = nyt.split("\n", 1)[1]
    ap_title, ap_text = ap.split("\n", 1)
    return nyt_text, ap_title, ap_text


def seed_pair(data: Path) -> bool:
    nyt_text, ap_title, ap_text = _seed_texts(data)
    ok = True
    print("\nSeed pair in memory (+ a same-day article about another event, must stay apart):")
    for label, sequence in (
        ("distractor between", ("nyt", "distractor", "ap")),
        ("distractor last", ("nyt", "ap", "distractor")),
    ):
        index = InMemoryStoryIndex()
        articles = {
            "nyt": StoryDoc(1, None, nyt_text, datetime(2022, 12, 18, 12, tzinfo=UTC), "en"),
            "ap": StoryDoc(2, ap_title, ap_text, datetime(2022, 12, 19, 15, tzinfo=UTC), "en"),
            "distractor": StoryDoc(
                3, DISTRACTOR_TITLE, DISTRACTOR_TEXT, datetime(2022, 12, 19, 9, tzinfo=UTC), "en"
            ),
        }
        scores = {}
        for name in sequence:
            result = assign(index, articles[name])
            scores[name] = result.score
        same = index.story_of(1) == index.story_of(2)
        apart = index.story_of(3) not in (index.story_of(1), index.story_of(2))
        ok = ok and same and apart
        print(
            f"  {label:<19} NYT+AP one story: {'yes' if same else 'NO'} (AP scored"
            f" {scores['ap']:.3f}); distractor apart: {'yes' if apart else 'NO'}"
            f" (best score {scores['distractor']:.3f}; join threshold"
            f" {DEFAULT_CONFIG.join_threshold})"
        )
    return ok


def labelled(path: Path) -> int:
    """Score ``storywire cluster`` on a labelled JSON-lines set (each line has an ``event``)."""
    records: list[dict[str, object]] = []
    gold: dict[str, str] = {}
    for number, line in enumerate(path.open(encoding="utf-8"), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        if "id" not in record or "event" not in record:
            print(f'stories_eval: {path}:{number}: needs an "id" and an "event"')
            return 2
        gold[str(record["id"])] = str(record.pop("event"))
        records.append(record)
    out, ms = run_cli(records)
    pred = {doc_id: out[doc_id]["story_id"] for doc_id in gold}
    p, r, f = bcubed(pred, gold)
    print(
        f"{path.name}: {len(records)} documents, {len(set(gold.values()))} events;"
        f" `storywire cluster` ({ms:.1f} ms/article wall)"
    )
    print(f"  B-cubed P {p:.3f}  R {r:.3f}  F1 {f:.3f}   pairwise F1 {pairwise_f1(pred, gold):.3f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cli-orders",
        choices=("file", "all"),
        default="file",
        help="orders run through `storywire cluster`: the file order, or it and 3 shuffles",
    )
    parser.add_argument(
        "--cli-only",
        action="store_true",
        help="only what runs through `storywire cluster` (the headline and the dev variants)",
    )
    parser.add_argument(
        "--labelled",
        type=Path,
        help='score this labelled set instead (cluster input lines, each with an "event")',
    )
    args = parser.parse_args()
    if args.labelled:
        return labelled(args.labelled)
    data = shared_data()
    if data is None or not (data / "clustering/ecbplus/docs.jsonl").is_file():
        print("stories_eval: evaluation data not found (set STORYWIRE_SHARED_DATA); skipped.")
        return 0
    cli_orders = ["file order"]
    if args.cli_orders == "all":
        cli_orders += [f"shuffle {seed}" for seed in SHUFFLE_SEEDS]
    ecb_plus(data, cli_orders, args.cli_only)
    if not args.cli_only:
        seed_pair(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
