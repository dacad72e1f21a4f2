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
  the length of a real headline.

Every line gets a ``source`` (one of 40 invented outlet names, drawn), so outlet counts are
exercised too. The seed pair is not part of these sets (``stories_eval.py`` adds it).
"""

from __future__ import annotations

import json
import random
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
VARIANTS = ("undated", "dated", "titles", "dated-titles", "headlines", "dated-headlines")

Doc = dict[str, object]


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


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: stories_devsets.py OUT_DIR")
        return 2
    data = shared_data()
    if data is None:
        print("stories_devsets: evaluation data not found (set STORYWIRE_SHARED_DATA)")
        return 2
    out = Path(sys.argv[1])
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
