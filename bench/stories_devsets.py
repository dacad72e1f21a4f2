"""Development variants of ECB+ for the story step: dated, titles only, headline length.

Usage::

    from stories_devsets import ecb_docs, variant
    docs = ecb_docs(data)                       # the 982 ECB+ documents (doc_id, topic, ...)
    records = variant(docs, "dated-titles")     # `storywire cluster` input lines + "event"

    .venv/bin/python bench/stories_devsets.py OUT_DIR    # writes every variant as JSONL

ECB+ is undated and long-texted; the sets the story step is judged on are dated, span days,
and one of them is headlines only. So each ECB+ document is turned into a cluster input line
(``id``, ``title``, ``text``, ``published_at``?, ``source``) plus its gold ``event``, in one
of these variants:

- ``undated``: title (ECB+'s first sentence) and text, no date (file order);
- ``dated``: the same with a publication time. Built with a fixed seed (``DEFAULT_SEED``):
  each topic's first event (which of its two comes first is drawn) happens at a time drawn
  uniformly over ``EVENT_SPREAD``; the topic's other event ``GAP`` later (30-180 days, drawn),
  so the two same-kind events of a topic are >= 30 days apart while events of different
  topics overlap in time as news does; each article is published at its event's time plus a
  delay drawn uniformly from 0-5 days (``COVERAGE``): the wire first, follow-ups days later;
- ``titles`` / ``dated-titles``: the title alone (no text), undated / dated as above;
- ``headlines`` / ``dated-headlines``: the title cut to its first ``HEADLINE_WORDS`` words,
  the length of a real headline;
- ``outlets3`` / ``dated-outlets3``: ``OUTLETS`` documents drawn from each event (every ECB+
  event has at least 3), full texts, undated / dated: the shape of a set of many events each
  covered by a few outlets;
- ``dense-headlines``: a dense headline stream like an aggregator's: each headline
  ``DENSE_COPIES`` times (the wire's copies on many small sites, each with one word dropped at
  random), published at random over ``DENSE_SPAN`` by one of ``DENSE_OUTLETS`` outlets:
  ~5,900 headlines in 36 hours, stories of ~70 short texts, and a topic's two same-kind
  events in the same 36 hours (harsh on precision: an aggregator's stories are mostly
  distinct topics);
- ``dense-broad``: an aggregator's broad stories: one event of each topic, its headlines
  ``BROAD_COPIES`` times (copies as above) and its texts' first ``BROAD_SENTENCES`` sentences
  cut to headline length (other outlets' framings, often sharing no word with the headline),
  over the same 36 hours: recall across many differently worded short texts.

Every line gets a ``source`` (one of 40 invented outlet names, drawn), so outlet counts are
exercised too. The seed pair is not part of these sets (``stories_eval.py`` adds it).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import shared_data

#: Seed of every random draw here: the dated sets are the same on every run.
DEFAULT_SEED = 17
#: When the topics' first events happen: uniformly over this span from ``START``.
START = datetime(2021, 3, 1, tzinfo=UTC)
EVENT_SPREAD = timedelta(days=90)
#: The topic's second event follows its first by this much (drawn uniformly).
GAP = (timedelta(days=30), timedelta(days=180))
#: An article is published this long after its event (drawn uniformly).
COVERAGE = timedelta(days=5)
#: Words of a headline-length title.
HEADLINE_WORDS = 10
#: Documents drawn from each event in the ``outlets3`` variants.
OUTLETS = 3
#: The dense stream: copies of each headline, over how long, from how many outlets.
DENSE_COPIES = 6
#: ``dense-broad``: copies of each headline and lead sentences of its text, one event a topic.
BROAD_COPIES = 3
BROAD_SENTENCES = 1
DENSE_SPAN = timedelta(hours=36)
DENSE_OUTLETS = 2000
VARIANTS = (
    "undated",
    "dated",
    "titles",
    "dated-titles",
    "headlines",
    "dated-headlines",
    "outlets3",
    "dated-outlets3",
    "dense-headlines",
    "dense-broad",
)

Doc = dict[str, object]

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def ecb_docs(data: Path) -> list[Doc]:
    path = data / "clustering/ecbplus/docs.jsonl"
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def event_times(docs: Sequence[Doc], seed: int = DEFAULT_SEED) -> dict[str, datetime]:
    """When each gold event happened (see the module's docstring)."""
    rng = random.Random(seed)
    by_topic: dict[int, list[str]] = {}
    for d in docs:
        events = by_topic.setdefault(int(str(d["topic"])), [])
        if d["event_cluster"] not in events:
            events.append(str(d["event_cluster"]))
    times: dict[str, datetime] = {}
    for topic in sorted(by_topic):
        events = sorted(by_topic[topic])
        rng.shuffle(events)
        when = START + EVENT_SPREAD * rng.random()
        for event in events:
            times[event] = when
            when += GAP[0] + (GAP[1] - GAP[0]) * rng.random()
    return times


def variant(docs: Sequence[Doc], name: str, seed: int = DEFAULT_SEED) -> list[dict[str, object]]:
    """The documents as `storywire cluster` input lines of variant ``name``, each with its gold
    ``event``; dated variants are in publication order, the others in file order."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; one of {', '.join(VARIANTS)}")
    if name.startswith("dense"):
        return _dense(docs, name, seed)
    if name.endswith("outlets3"):
        docs = _per_event(docs, OUTLETS, seed)
    rng = random.Random(seed + 1)
    times = event_times(docs, seed)
    outlets = [f"outlet{n:02d}.example" for n in range(40)]
    records: list[dict[str, object]] = []
    for d in docs:
        title = str(d["title"])
        text = str(d["text"])
        if name.endswith("titles"):
            text = ""
        elif name.endswith("headlines"):
            title, text = " ".join(title.split()[:HEADLINE_WORDS]), ""
        record: dict[str, object] = {
            "id": d["doc_id"],
            "title": title,
            "text": text,
            "source": rng.choice(outlets),
            "event": d["event_cluster"],
            "topic": d["topic"],
        }
        published = times[str(d["event_cluster"])] + COVERAGE * rng.random()
        if name.startswith("dated"):
            record["published_at"] = published.isoformat()
        records.append(record)
    if name.startswith("dated"):
        records.sort(key=lambda r: str(r["published_at"]))
    return records


def _per_event(docs: Sequence[Doc], n: int, seed: int) -> list[Doc]:
    """``n`` documents drawn from each event, in file order."""
    rng = random.Random(seed + 2)
    by_event: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        by_event.setdefault(str(d["event_cluster"]), []).append(i)
    keep = sorted(i for members in by_event.values() for i in rng.sample(members, n))
    return [docs[i] for i in keep]


def _dense(docs: Sequence[Doc], name: str, seed: int) -> list[dict[str, object]]:
    """The dense stream's lines (``dense-headlines`` or ``dense-broad``), in publication order."""
    rng = random.Random(seed + 3)
    broad = name == "dense-broad"
    copies, sentences = (BROAD_COPIES, BROAD_SENTENCES) if broad else (DENSE_COPIES, 0)
    topics: dict[int, list[str]] = {}
    for d in docs:
        events = topics.setdefault(int(str(d["topic"])), [])
        if d["event_cluster"] not in events:
            events.append(str(d["event_cluster"]))
    kept = {rng.choice(sorted(events)) for events in topics.values()} if broad else None
    records: list[dict[str, object]] = []
    for d in docs:
        if kept is not None and d["event_cluster"] not in kept:
            continue
        title = str(d["title"]).split()[:HEADLINE_WORDS]
        heads = []
        for _ in range(copies):
            words = list(title)
            if len(words) > 2:
                del words[rng.randrange(len(words))]
            heads.append(words)
        lead = _SENTENCE.split(str(d["text"]))[:sentences]
        heads += [s.split()[:HEADLINE_WORDS] for s in lead if s.strip()]
        for n, words in enumerate(heads):
            published = START + DENSE_SPAN * rng.random()
            records.append(
                {
                    "id": f"{d['doc_id']}#{n}",
                    "title": " ".join(words),
                    "text": "",
                    "published_at": published.isoformat(),
                    "source": f"outlet{rng.randrange(DENSE_OUTLETS):04d}.example",
                    "event": d["event_cluster"],
                    "topic": d["topic"],
                }
            )
    records.sort(key=lambda r: str(r["published_at"]))
    return records


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Write the dev variants of ECB+ (one JSON-lines file each) into OUT_DIR."
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to write into")
    args = parser.parse_args()
    data = shared_data()
    if data is None:
        print("stories_devsets: evaluation data not found (set STORYWIRE_SHARED_DATA)")
        return 2
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    docs = ecb_docs(data)
    for name in VARIANTS:
        with (out / f"ecbplus-{name}.jsonl").open("w", encoding="utf-8") as f:
            for record in variant(docs, name):
                f.write(json.dumps(record) + "\n")
    print(f"wrote {len(VARIANTS)} variants of {len(docs)} documents to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
