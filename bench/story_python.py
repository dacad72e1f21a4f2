"""Python time per article of the story step's pure functions, against a reference git revision.

Usage::

    .venv/bin/python bench/story_python.py                    # reference: main
    .venv/bin/python bench/story_python.py --reference 8c7f6b9 --repeats 7
    .venv/bin/python bench/story_python.py --check            # outputs identical, no timing

Times, per article (median over articles of each article's best of ``--repeats`` passes, after
one warm-up pass: the worker runs with warm stemming and word-hash caches): normalize+hash
(``normalize_text`` + ``hash_normalized``), sketch (``sketch_normalized`` + ``band_keys``),
``extract_terms``, ``weigh``, ``key_phrases`` (on the title and text as ``assign`` joins them),
``top_terms`` (the query's 20 and a new centroid's 100), ``similarity`` (with the 5 previous
articles' centroids) and ``add_to_centroid`` (into the previous one), and the total.

The reference is the same script's measuring part run on ``git archive REV worker models``
(extracted to a temporary directory), in a child process like the current tree's; the two
alternate ``--rounds`` times and each keeps its best, so both see the same machine state.

``--check`` compares the two trees' outputs exactly instead: terms (with their order, which
decides the order of float sums downstream), proper nouns, phrases, weights bit for bit,
top terms, features (digest, sketch, band keys) and an in-memory ``assign`` run over the texts.

Texts: ECB+ (982 real news articles, ``clustering/ecbplus/docs.jsonl`` in
``$STORYWIRE_SHARED_DATA`` or ``../shared/data``; a note says when it is absent) and
``--synthetic`` generated English-like articles (Zipf-drawn words, names mid-sentence,
possessives, numbers, hyphenated words, quotes).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO_ROOT, shared_data

STEPS = (
    "normalize+hash",
    "sketch",
    "extract_terms",
    "weigh",
    "key_phrases",
    "top_terms",
    "similarity",
    "add_to_centroid",
)


def _split(words: str) -> list[str]:
    return words.split()


# Frequent English news words (stop words included: the tokenizer and stemmer see them too).
_WORDS = _split("""
    the of to and a in that is for on was with he it as at by said his be from have has are an
    not were but had they who this been their which after more its would will about one up two
    also or year new when over than we against there people last all out can first into police
    government president officials could time years some said if other state city week told
    because before while killed attack report minister former since under may during three
    between where court country reported found million percent including security military
    forces capital according early group being national four deal water power market prices
    company shares investors election vote party leader campaign protest crowd streets town
    village residents families children hospital injured victims rescue workers fire storm
    flood earthquake magnitude damage buildings roads bridge collapsed missing searching
    arrested charged murder trial judge jury sentenced prison released statement spokesman
    announced confirmed denied warned expected planned launched signed agreement talks peace
    border troops fighting soldiers rebels weapons missile strike aircraft ship coast island
    region province district northern southern eastern western central local foreign
    international economic financial quarter profit revenue sales growth billion dollars
    officials investigating investigation evidence witnesses video footage images social media
    accounts reporters journalists newspaper television station broadcast interview
""")
_FIRST = _split("John Maria Ahmed Olga Tara Vladimir Angela Lindsay Pedro Yuki Samuel Ines")
_LAST = _split("Reid Putin Merkel Lohan Alvarez Tanaka Okafor Brennan Novak Haddad Keller Ruiz")
_PLACES = _split("Minsk Malibu California Jakarta Port-au-Prince Ellery Tamsin Kyiv Lagos")
_ORGS = ("Bank of America", "United Nations", "Promises Treatment Center", "Apple", "FIFA")


def synthetic(n: int, seed: int = 7) -> list[dict[str, str]]:
    """English-like news articles with what the tokenizer must get right: names inside and
    at the start of sentences, possessives (both apostrophes), digits, hyphens, quotes."""
    rnd = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(_WORDS))]
    docs = []
    for i in range(n):
        names = [f"{rnd.choice(_FIRST)} {rnd.choice(_LAST)}" for _ in range(3)]
        sentences = []
        for _ in range(rnd.randint(8, 30)):
            words = rnd.choices(_WORDS, weights, k=rnd.randint(8, 28))
            for _ in range(rnd.randint(0, 3)):
                at = rnd.randrange(len(words))
                r = rnd.random()
                if r < 0.3:
                    words[at] = rnd.choice(names) + rnd.choice(("", "", "'s", "\u2019s"))
                elif r < 0.5:
                    words[at] = rnd.choice(_PLACES)
                elif r < 0.6:
                    words[at] = rnd.choice(_ORGS)
                elif r < 0.8:
                    words[at] = rnd.choice(
                        (str(rnd.randint(2, 500)), f"{rnd.randint(2, 90)}-year-old", "6.5", "2024")
                    )
                else:
                    words[at] = f'"{words[at]}'
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + rnd.choice(".....?!"))
        title = f"{rnd.choice(names)} {' '.join(rnd.sample(_WORDS, 5))}".title()
        docs.append({"title": title, "text": " ".join(sentences) + "\n", "doc_id": f"syn-{i}"})
    return docs


def ecbplus() -> list[dict[str, str]] | None:
    data = shared_data()
    path = data / "clustering/ecbplus/docs.jsonl" if data else None
    if path is None or not path.is_file():
        return None
    return [json.loads(line) for line in path.open(encoding="utf-8")]


# --- the child: imports ``worker`` from the tree it is given, measures or records outputs ---


def child(code: Path, texts: Path, mode: str, repeats: int, out: Path) -> None:
    sys.path.insert(0, str(code))  # before the editable install's (and _common's) repo path
    from worker.dedupe.exact import hash_normalized, normalize_text
    from worker.dedupe.minhash import band_keys, sketch_normalized
    from worker.stories import InMemoryStoryIndex, StoryDoc, assign
    from worker.stories.assigner import features
    from worker.stories.terms import extract_terms, key_phrases
    from worker.stories.vectors import add_to_centroid, similarity, top_terms, weigh

    assert Path(sys.modules["worker"].__file__ or "").resolve().is_relative_to(code.resolve())
    docs: list[dict[str, str]] = json.loads(texts.read_text(encoding="utf-8"))
    df: dict[str, int] = {}
    for d in docs:
        for t in extract_terms(d["title"], d["text"]).counts:
            df[t] = df.get(t, 0) + 1
    n_docs = len(docs)

    if mode == "check":
        record: list[Any] = []
        for d in docs:
            terms = extract_terms(d["title"], d["text"])
            vec = weigh(terms, n_docs, df)
            f = features(StoryDoc(0, d["title"], d["text"], None, None), with_terms=True)
            assert f.terms is not None
            record.append(
                (
                    list(terms.counts.items()),
                    sorted(terms.proper),
                    key_phrases(f"{d['title']}.\n{d['text']}"),
                    key_phrases(d["text"], limit=30),
                    list(vec.items()),
                    list(top_terms(vec, 20).items()),
                    list(top_terms(vec, 100).items()),
                    f.digest,
                    f.sketch.to_bytes() if f.sketch else None,
                    f.sketch.shingles if f.sketch else None,
                    f.keys,
                    list(f.terms.counts.items()),
                    sorted(f.terms.proper),
                    list(extract_terms(d["title"], d["text"], title_weight=3.0).counts.items()),
                )
            )
        index = InMemoryStoryIndex()
        for i, d in enumerate(docs):
            result = assign(index, StoryDoc(i + 1, d["title"], d["text"], None, "en"))
            record.append(result)
        record.append(
            sorted((s.id, list(s.centroid.items()), s.phrases) for s in index.stories.values())
        )
        out.write_bytes(pickle.dumps(record))
        return

    clock = time.perf_counter
    best: list[list[float]] = [[float("inf")] * len(STEPS) for _ in docs]
    for rep in range(repeats + 1):  # pass 0 warms the caches
        centroids: list[dict[str, float]] = []
        for k, d in enumerate(docs):
            title, text = d["title"], d["text"]
            t0 = clock()
            normalized = normalize_text(text)
            hash_normalized(normalized)
            t1 = clock()
            sk = sketch_normalized(normalized)
            if sk is not None:
                band_keys(sk)
            t2 = clock()
            terms = extract_terms(title, text)
            t3 = clock()
            vec = weigh(terms, n_docs, df)
            t4 = clock()
            key_phrases(f"{title}.\n{text}", limit=10)
            t5 = clock()
            top_terms(vec, 20)
            centroid = top_terms(vec, 100)
            t6 = clock()
            for c in centroids[-5:]:
                similarity(vec, c)
            t7 = clock()
            if centroids:
                add_to_centroid(centroids[-1], vec, keep=100)
            t8 = clock()
            centroids.append(centroid)
            if rep:
                row = best[k]
                for s, dt in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
                    row[s] = min(row[s], dt)
                row[6] = min(row[6], t7 - t6)
                row[7] = min(row[7], t8 - t7)
    out.write_text(json.dumps(best))


# --- the parent: texts, trees, rounds, figures ---


def extract(rev: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", rev, "worker", "models"], cwd=REPO_ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_child(code: Path, texts: Path, mode: str, repeats: int, out: Path) -> None:
    cmd = [sys.executable, __file__, "--child", str(code), str(texts), mode, str(repeats), str(out)]
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})


def figures(rows: list[list[float]]) -> list[float]:
    per_step = [statistics.median(r[s] for r in rows) * 1e6 for s in range(len(STEPS))]
    return [*per_step, statistics.median(sum(r) for r in rows) * 1e6]


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        code, texts, mode, repeats, out = sys.argv[2:7]
        child(Path(code), Path(texts), mode, int(repeats), Path(out))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", default="main", help="git revision to compare against")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per round")
    parser.add_argument("--rounds", type=int, default=2, help="reference/current alternations")
    parser.add_argument("--synthetic", type=int, default=500, help="synthetic articles")
    parser.add_argument("--check", action="store_true", help="compare outputs, no timing")
    args = parser.parse_args()

    corpora: dict[str, list[dict[str, str]]] = {"synthetic": synthetic(args.synthetic)}
    real = ecbplus()
    if real is None:
        print("ECB+ not found (set STORYWIRE_SHARED_DATA): synthetic texts only")
    else:
        corpora["ECB+"] = [{k: d[k] for k in ("title", "text", "doc_id")} for d in real]
    rev = subprocess.run(
        ["git", "rev-parse", "--short", args.reference],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        reference = extract(args.reference, Path(tmp) / "ref")
        trees = {f"reference {rev}": reference, "current": REPO_ROOT}
        failed = False
        for name, docs in corpora.items():
            texts = Path(tmp) / f"{name}.json"
            texts.write_text(json.dumps(docs), encoding="utf-8")
            chars = statistics.median(len(d["text"]) for d in docs)
            print(f"\n{name}: {len(docs)} articles, median {chars:.0f} characters")
            if args.check:
                outputs = {}
                for label, code in trees.items():
                    out = Path(tmp) / "out.pickle"
                    run_child(code, texts, "check", 0, out)
                    outputs[label] = out.read_bytes()
                same = len(set(outputs.values())) == 1
                failed = failed or not same
                print(f"  outputs identical: {'yes' if same else 'NO'} ({len(docs)} articles)")
                continue
            best: dict[str, list[list[float]]] = {}
            for _ in range(args.rounds):
                for label, code in trees.items():
                    out = Path(tmp) / "times.json"
                    run_child(code, texts, "time", args.repeats, out)
                    rows = json.loads(out.read_text())
                    kept = best.setdefault(label, rows)
                    for k, row in enumerate(rows):
                        kept[k] = [min(a, b) for a, b in zip(kept[k], row, strict=True)]
            labels = list(best)
            print(f"  {'us/article (median)':<18}" + "".join(f"{x:>22}" for x in labels))
            results = {label: figures(rows) for label, rows in best.items()}
            for s, step in enumerate([*STEPS, "total"]):
                ref, cur = (results[label][s] for label in labels)
                change = f"{cur - ref:+8.1f} ({cur / ref:.2f}x)"
                print(f"  {step:<18}{ref:>22.1f}{cur:>22.1f}   {change}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
