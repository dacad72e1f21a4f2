"""Syndicated-copy detection (layer 3): precision and recall of ``duplicate_of``.

Usage::

    .venv/bin/python bench/syndication.py [--originals 300] [--seed 7]

Real article texts (newspaper4k's expected texts and trafilatura's extraction of the
trafilatura-eval pages, which are news and blog pages in several languages) are the originals.
Each gets 1-3 copies the way another site republishes a wire story: a new headline, a new
dateline and byline, boilerplate lines added above and below, the last 20-40 % cut off and
2-5 % of the words edited (replaced, dropped or inserted). Originals, copies and unrelated
articles (other extracted pages, and one ECB+ article per event: same-kind news) go through
``worker.stories.assign`` in publication order, copies after their original.

A copy is right when its ``duplicate_of`` is its original; any other ``duplicate_of`` is a false
positive. In the same run, the reference: 64-bit SimHash (word features, tf-weighted, as in
Manku et al. 2007) declaring a copy at Hamming distance <= 3 from an earlier article.
Reads ``$STORYWIRE_SHARED_DATA`` or ``../shared/data``; prints a note and exits 0 without it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import shared_data

from worker.dedupe.exact import normalize_text
from worker.dedupe.minhash import shingle_hashes
from worker.stories import InMemoryStoryIndex, StoryDoc, assign

MIN_WORDS = 150  # originals shorter than this are not article-length
OVERLAP_LIMIT = 0.2  # pool texts sharing more than this share of shingles are not "unrelated"

BOILERPLATE = [
    "Subscribe now and get unlimited access to all our stories for just 1 dollar a week.",
    "Share this article: Facebook Twitter WhatsApp Email",
    "Sign up for our daily newsletter to get the latest headlines delivered to your inbox.",
    "Copyright 2024 The Daily Courier. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed.",
    "Related coverage: read more stories from our local news desk.",
    "Advertisement",
    "Already a subscriber? Log in to continue reading.",
    "Follow us on social media for breaking news alerts and updates.",
    "Have a news tip? Contact our newsroom.",
]
BYLINES = ["By Anna Smith, Staff Writer", "By John Brown | Associated Press", "From wire reports"]
DATELINES = ["NEW YORK (AP) —", "LONDON (Reuters) -", "BERLIN (dpa) -", "PARIS —", "MADRID (EFE) -"]
DASHES = ("\u2014", "\u2013", "-")  # em dash, en dash, hyphen
FILLER_WORDS = ["also", "now", "still", "city", "report", "local", "official", "new", "week"]


@dataclass
class Item:
    id: int
    title: str
    text: str
    original: int | None  # for a generated copy: the id of its original
    trim: float = 0.0
    edit: float = 0.0


def load_pool(data: Path) -> list[tuple[str, str]]:
    """(title, text) of real articles, near-duplicates within the pool removed."""
    import trafilatura

    pool: list[tuple[str, str]] = []
    txt = data / "extraction/newspaper4k/txt"
    for path in sorted(txt.glob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        pool.append((path.stem.replace("_", " "), text))
    base = data / "extraction/trafilatura-eval"
    evaldata = json.loads((base / "evaldata.json").read_text(encoding="utf-8"))
    for url, gold in evaldata.items():
        page = base / "html" / f"{gold['file']}.gz"
        if not page.is_file():
            continue
        with gzip.open(page) as fh:
            extracted = trafilatura.extract(fh.read(), with_metadata=False)
        if extracted:
            pool.append((gold.get("title") or url, extracted))
    pool = [(t, x) for t, x in pool if len(x.split()) >= MIN_WORDS]
    return _drop_overlapping(pool)


def _drop_overlapping(pool: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # The same page saved twice, or one press release on two sites: such pairs are copies in
    # truth, so they would count as false positives. Exact shingle sets, so no sketch is used.
    kept: list[tuple[str, str]] = []
    sets: list[set[int]] = []
    owners: dict[int, list[int]] = {}
    for title, text in pool:
        shingles = {int(h) for h in shingle_hashes(text)}
        seen = Counter(j for h in shingles for j in owners.get(h, ()))
        if any(n / min(len(shingles), len(sets[j])) > OVERLAP_LIMIT for j, n in seen.items()):
            continue
        for h in shingles:
            owners.setdefault(h, []).append(len(sets))
        sets.append(shingles)
        kept.append((title, text))
    return kept


def ecb_one_per_event(data: Path) -> list[tuple[str, str]]:
    path = data / "clustering/ecbplus/docs.jsonl"
    if not path.is_file():
        return []
    seen: set[str] = set()
    out = []
    for line in path.open(encoding="utf-8"):
        doc = json.loads(line)
        if doc["event_cluster"] not in seen and len(doc["text"].split()) >= 50:
            seen.add(doc["event_cluster"])
            out.append((doc["title"], doc["text"]))
    return out


def make_copy(title: str, text: str, rnd: random.Random) -> tuple[str, str, float, float]:
    words = text.split()
    trim = rnd.uniform(0.2, 0.4)
    words = words[: int(len(words) * (1 - trim))]
    edit = rnd.uniform(0.02, 0.05)
    edited: list[str] = []
    for w in words:
        r = rnd.random()
        if r < edit / 3:
            continue  # dropped
        if r < 2 * edit / 3:
            edited.append(rnd.choice(FILLER_WORDS))  # replaced
        elif r < edit:
            edited.extend([w, rnd.choice(FILLER_WORDS)])  # inserted
        else:
            edited.append(w)
    # An upper-case dateline at the start ("KYIV, Ukraine (AP) —") is replaced, not kept.
    if edited and edited[0].rstrip(",").isupper():
        for j, w in enumerate(edited[:8]):
            if w in DASHES or w.endswith(DASHES):
                edited = edited[j + 1 :]
                break
    body = f"{rnd.choice(DATELINES)} {' '.join(edited)}"
    top = rnd.sample(BOILERPLATE, rnd.randint(0, 2))
    bottom = rnd.sample(BOILERPLATE, rnd.randint(1, 3))
    new_title = f"{rnd.choice(['UPDATE:', 'WATCH:', 'Report:', ''])} {title[::-1][:40]}".strip()
    return new_title, "\n\n".join([*top, rnd.choice(BYLINES), body, *bottom]), trim, edit


def build_stream(data: Path, n_originals: int, seed: int) -> tuple[list[Item], int]:
    rnd = random.Random(seed)
    pool = load_pool(data)
    rnd.shuffle(pool)
    originals, unrelated = pool[:n_originals], pool[n_originals:] + ecb_one_per_event(data)
    items: list[Item] = []
    next_id = 1
    for title, text in originals + unrelated:
        items.append(Item(next_id, title, text, None))
        next_id += 1
    rnd.shuffle(items)
    # Copies go after their original, at a random later position.
    for k, (title, text) in enumerate(originals):
        original_id = k + 1
        for _ in range(rnd.randint(1, 3)):
            new_title, copy_text, trim, edit = make_copy(title, text, rnd)
            after = next(i for i, it in enumerate(items) if it.id == original_id)
            at = rnd.randint(after + 1, len(items))
            items.insert(at, Item(next_id, new_title, copy_text, original_id, trim, edit))
            next_id += 1
    return items, len(pool)


def score(items: list[Item], predicted: dict[int, int | None]) -> tuple[float, float, int, int]:
    copies = [it for it in items if it.original is not None]
    claimed = [it for it in items if predicted[it.id] is not None]
    right = [it for it in claimed if it.original is not None and predicted[it.id] == it.original]
    precision = len(right) / len(claimed) if claimed else 1.0
    return precision, len(right) / len(copies), len(claimed) - len(right), len(copies) - len(right)


def run_ours(items: list[Item]) -> tuple[dict[int, int | None], list[float]]:
    index = InMemoryStoryIndex()
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    out: dict[int, int | None] = {}
    times: list[float] = []
    for n, it in enumerate(items):
        doc = StoryDoc(it.id, it.title, it.text, t0 + timedelta(minutes=n))
        started = time.perf_counter()
        out[it.id] = assign(index, doc).duplicate_of
        times.append((time.perf_counter() - started) * 1000)
    return out, times


def simhash64(text: str) -> int:
    counts = Counter(normalize_text(text).split())
    acc = [0] * 64
    for word, weight in counts.items():
        h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        for bit in range(64):
            acc[bit] += weight if h >> bit & 1 else -weight
    return sum(1 << bit for bit in range(64) if acc[bit] > 0)


def run_simhash(items: list[Item], k: int = 3) -> dict[int, int | None]:
    seen: list[tuple[int, int]] = []
    out: dict[int, int | None] = {}
    for it in items:
        h = simhash64(it.text)
        out[it.id] = next((i for i, other in seen if (h ^ other).bit_count() <= k), None)
        if out[it.id] is None:
            seen.append((it.id, h))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--originals", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    data = shared_data()
    if data is None or not (data / "extraction/trafilatura-eval/evaldata.json").is_file():
        print("syndication: evaluation data not found (set STORYWIRE_SHARED_DATA); skipped.")
        return 0
    items, pool_size = build_stream(data, args.originals, args.seed)
    n_copies = sum(1 for it in items if it.original is not None)
    print(
        f"stream: {len(items)} articles = {args.originals} originals + {n_copies} copies +"
        f" {len(items) - args.originals - n_copies} unrelated (pool of {pool_size} real texts"
        " after removing overlapping pairs, + one ECB+ article per event)"
    )
    ours, times = run_ours(items)
    p, r, fp, fn = score(items, ours)
    print("\nours (MinHash 128 perm, 32 bands x 2 rows, containment >= 0.5, via assign()):")
    print(f"  duplicate_of precision {p:.4f}  recall {r:.4f}  (false positives {fp}, missed {fn})")
    print(
        f"  time per article (all layers): median {statistics.median(times):.2f} ms,"
        f" p99 {sorted(times)[int(0.99 * (len(times) - 1))]:.2f} ms"
    )
    for label, pick in (
        ("trim 20-30%", lambda it: it.trim < 0.3),
        ("trim 30-40%", lambda it: it.trim >= 0.3),
        ("edits 2-3.5%", lambda it: it.edit < 0.035),
        ("edits 3.5-5%", lambda it: it.edit >= 0.035),
    ):
        sub = [it for it in items if it.original is not None and pick(it)]
        found = sum(1 for it in sub if ours[it.id] == it.original)
        print(f"    recall, {label:<13} {found / len(sub):.4f}  ({found}/{len(sub)})")
    for k in (3, 6, 10):
        p, r, fp, fn = score(items, run_simhash(items, k))
        label = "reference" if k == 3 else "         "
        print(
            f"{label} SimHash 64-bit, Hamming <= {k:<2}: precision {p:.4f}  recall {r:.4f}"
            f"  (false positives {fp}, missed {fn})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
