"""Re-cluster a window of articles (average link) and map the clusters onto stored stories.

Usage::

    articles = [WindowArticle(id, story_id, vector, terms, published_at, phrases), ...]
    clusters = cluster(articles)                      # [[article ids], ...], deterministic
    plan = reconcile(articles, clusters, first_seen)  # which story each cluster becomes

The online step decides once per article, in arrival order, against story centroids; a window
re-clustered all at once can take those decisions back. Average link: two groups are one
story while the mean similarity of their pairs (a missing pair counts 0) is at least
``DEFAULT_REFINE_THRESHOLD``; unlike a centroid it never lets a big story swallow a look-alike
through a few shared words, and unlike single link it does not chain. A pair's similarity is
the cosine of the two TF-IDF vectors of terms plus ``DEFAULT_PHRASE_WEIGHT`` x the cosine of
their vectors of adjacent term pairs ("world cup", "vladimir putin": a phrase two texts share
is evidence beyond its two words, and the most there is between two headlines), x the time
prior x the length calibration (``worker.stories.scoring``); candidate pairs are those
sharing one of their heaviest terms (the postings the online step reads too), so the work
grows with the pairs that share a salient word, not with the square of the window.

Hysteresis: a pair already in one story counts ``DEFAULT_REFINE_MARGIN`` more, so a story is
split only when its members' mean similarity falls that far below the threshold, and stories
are merged only when theirs clears it: small shifts of the term statistics between two runs
do not flap stories back and forth, and a second run on an unchanged window changes nothing.

Stable ids (``reconcile``): a cluster keeps the id of the stored story holding most of its
members (the story opened first on ties, then the lower id); a story is given to one cluster
only, so a story cut in two keeps its id for the larger part and the other part is a new
story (a split); a stored story left with none of its members was merged.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]

from worker.stories.scoring import (
    DEFAULT_SPARSE_PER_DAY,
    DEFAULT_TIME_SCALE,
)
from worker.stories.vectors import Vector

#: Mean pair similarity from which two groups of a window are one story.
DEFAULT_REFINE_THRESHOLD = 0.375
#: What the cosine of two texts' term-pair vectors adds, per unit, to their terms' cosine.
DEFAULT_PHRASE_WEIGHT = 1.0
#: The length calibration's constant for a pair (``scoring.length_factor``): below the online
#: step's, since the pairs' cosine already credits part of what two short texts share.
DEFAULT_REFINE_LENGTH_TERMS = 7.5
#: How much larger a dated pair's length constant is (``scoring.DEFAULT_NEAR_TIME_PRIOR``):
#: raised with the threshold (0.325 -> 0.375 when the pairs' cosine came in) so that two texts
#: published together keep the weight they had against it.
DEFAULT_REFINE_NEAR_PRIOR = 3.0
#: What a pair already in one story counts more (hysteresis).
DEFAULT_REFINE_MARGIN = 0.05
#: The share of the length calibration's credit kept by a pair that shares one heavy term
#: and no term pair: one word ("Bush", in a headline about the Saints' running back and in
#: one about the president) is thin evidence, and the calibration multiplies it by 2.6 for two
#: 6-term headlines. A pair near in time in a sparse stream keeps its whole credit (the
#: near-in-time prior: time is evidence there), fading with the prior in a dense one.
DEFAULT_ONE_WORD_CREDIT = 0.5
#: Heaviest terms of each article whose sharing makes a candidate pair.
DEFAULT_PAIR_TERMS = 20
#: Pairs weaker than this are left out of the graph (they count 0, as missing pairs do).
DEFAULT_PAIR_FLOOR = 0.02
#: Candidate pairs whose cosine is computed per step (bounds the memory of one step).
DEFAULT_PAIR_CHUNK = 200_000


@dataclass(frozen=True, slots=True)
class WindowArticle:
    """An original article of the window (copies follow their original)."""

    id: int
    story_id: int
    vector: Vector  # unit TF-IDF vector
    terms: int  # distinct terms, for the length calibration
    published_at: datetime | None  # its own date; None: undated (no time prior)
    phrases: Vector | None = None  # unit TF-IDF vector of adjacent term pairs


@dataclass(frozen=True, slots=True)
class RefineConfig:
    threshold: float = DEFAULT_REFINE_THRESHOLD
    phrase_weight: float = DEFAULT_PHRASE_WEIGHT
    margin: float = DEFAULT_REFINE_MARGIN
    pair_terms: int = DEFAULT_PAIR_TERMS
    floor: float = DEFAULT_PAIR_FLOOR
    time_scale_days: float = DEFAULT_TIME_SCALE.total_seconds() / 86400
    near_prior: float = DEFAULT_REFINE_NEAR_PRIOR
    sparse_per_day: float = DEFAULT_SPARSE_PER_DAY
    length_terms: float = DEFAULT_REFINE_LENGTH_TERMS
    one_word_credit: float = DEFAULT_ONE_WORD_CREDIT


DEFAULT_REFINE_CONFIG = RefineConfig()


@dataclass
class Plan:
    """What ``reconcile`` decided: the story of every article that changes story, the new
    stories (a key per split, with the story it was cut from), and the stories merged away."""

    moves: dict[int, int | str] = field(default_factory=dict)  # article -> story id or new key
    splits: dict[str, int] = field(default_factory=dict)  # new key -> the story it came from
    merged: dict[int, int | str] = field(default_factory=dict)  # gone story -> survivor
    kept: set[int] = field(default_factory=set)  # stored stories that stay, changed or not


@dataclass(frozen=True)
class Window:
    """The window as arrays, row ``i`` being article ``ids[i]`` (ids increasing): unit TF-IDF
    rows, current stories, distinct terms, publication days (NaN: undated), and the unit
    TF-IDF rows of adjacent term pairs (None: not compared)."""

    ids: np.ndarray
    vectors: sp.csr_matrix
    stories: np.ndarray
    terms: np.ndarray
    days: np.ndarray
    phrases: sp.csr_matrix | None = None


def window_of(articles: Sequence[WindowArticle]) -> Window:
    """The ``Window`` of these articles (vectors as dicts: tests, small windows)."""
    ordered = sorted(articles, key=lambda a: a.id)
    return Window(
        ids=np.array([a.id for a in ordered], dtype=np.int64),
        vectors=_matrix([a.vector for a in ordered]),
        stories=np.array([a.story_id for a in ordered], dtype=np.int64),
        terms=np.array([a.terms for a in ordered], dtype=np.int64),
        days=np.array(
            [a.published_at.timestamp() / 86400 if a.published_at else np.nan for a in ordered]
        ),
        phrases=(
            _matrix([a.phrases or {} for a in ordered]) if any(a.phrases for a in ordered) else None
        ),
    )


def cluster(
    articles: Sequence[WindowArticle] | Window, config: RefineConfig = DEFAULT_REFINE_CONFIG
) -> list[list[int]]:
    """The window's clusters (article ids, each cluster and the list in id order)."""
    window = articles if isinstance(articles, Window) else window_of(articles)
    n = len(window.ids)
    if n == 0:
        return []
    rows, cols, sims = _pairs(window, config)
    groups = _average_link(n, rows, cols, sims, config.threshold)
    clusters: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        clusters[g].append(int(window.ids[i]))
    return sorted(clusters.values())


def _pairs(window: Window, config: RefineConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs (i < j) and their calibrated similarity, above the floor."""
    full = window.vectors
    heads = _heads(full, config.pair_terms)
    shared = sp.triu(heads @ heads.T, k=1).tocoo()
    rows, cols = shared.row.astype(np.int64), shared.col.astype(np.int64)
    dots = np.empty(len(rows))
    phrased = np.zeros(len(rows), dtype=bool)
    for start in range(0, len(rows), DEFAULT_PAIR_CHUNK):
        r, c = rows[start : start + DEFAULT_PAIR_CHUNK], cols[start : start + DEFAULT_PAIR_CHUNK]
        dots[start : start + len(r)] = _dots(full, r, c)
        if window.phrases is not None and config.phrase_weight:
            phrase_dots = _dots(window.phrases, r, c)
            phrased[start : start + len(r)] = phrase_dots > 0
            dots[start : start + len(r)] += config.phrase_weight * phrase_dots
    gap = np.abs(window.days[rows] - window.days[cols])
    dated = ~np.isnan(gap)
    ratio = np.nan_to_num(gap) / config.time_scale_days
    # ``worker.stories.scoring.pair_scale`` (with ``config.length_terms``), for every pair at
    # once; then a one-word pair's credit cut (``DEFAULT_ONE_WORD_CREDIT``).
    decay = np.where(dated, 1.0 / (1.0 + ratio**4), 1.0)
    sparse = _sparseness(window.days, config)
    near = 1.0 + (config.near_prior - 1.0) * sparse
    constant = config.length_terms * np.where(dated, near, 1.0)
    shorter = np.minimum(window.terms[rows], window.terms[cols])
    credit = (constant / np.maximum(shorter, 1)) ** 2
    one_word = (shared.data <= 1) & ~phrased
    if one_word.any():
        kept = config.one_word_credit
        share = np.where(dated, kept + (1.0 - kept) * sparse, kept)
        credit = np.where(one_word, credit * share, credit)
    sims = dots * decay * (1.0 + credit)
    together = window.stories[rows] == window.stories[cols]
    sims = sims + np.where(together, config.margin, 0.0)
    keep = sims > config.floor
    return rows[keep], cols[keep], sims[keep]


def _dots(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The dot product of each pair of rows (``rows[k]``, ``cols[k]``)."""
    return np.asarray(matrix[rows].multiply(matrix[cols]).sum(axis=1)).ravel()


def _sparseness(days: np.ndarray, config: RefineConfig) -> float:
    """How much of the near-in-time prior (and of a one-word pair's credit) this window's
    dated pairs get: 1 when its dated articles are few per day, fading to 0 in a dense stream
    (two headlines of the same hour among thousands a day share the hour with every other
    event)."""
    known = days[~np.isnan(days)]
    if len(known) < 2:
        return 0.0
    per_day = len(known) / max(float(known.max() - known.min()), 1.0)
    return min(1.0, config.sparse_per_day / per_day)


def _matrix(vectors: Sequence[Mapping[str, float]]) -> sp.csr_matrix:
    """The vectors as rows of a sparse matrix (columns: terms in order of appearance)."""
    vocabulary: dict[str, int] = {}
    lengths = np.fromiter((len(v) for v in vectors), dtype=np.int64, count=len(vectors))
    indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    terms = chain.from_iterable(vectors)
    index = vocabulary.setdefault
    indices = np.fromiter(
        (index(t, len(vocabulary)) for t in terms), dtype=np.int64, count=int(indptr[-1])
    )
    data = np.fromiter(
        chain.from_iterable(v.values() for v in vectors), dtype=np.float64, count=int(indptr[-1])
    )
    return sp.csr_matrix((data, indices, indptr), shape=(len(vectors), max(len(vocabulary), 1)))


def _heads(full: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Each row's ``keep`` heaviest terms, as ones (ties: the term met first)."""
    rows = np.repeat(np.arange(full.shape[0]), np.diff(full.indptr))
    order = np.lexsort((np.arange(len(full.data)), -full.data, rows))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - full.indptr[rows[order]]
    kept = rank < keep
    return sp.csr_matrix(
        (np.ones(int(kept.sum())), (rows[kept], full.indices[kept])), shape=full.shape
    )


def _average_link(
    n: int, rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, threshold: float
) -> list[int]:
    """Each item's group after merging, best pair first, while the mean pair similarity of two
    groups is at least ``threshold`` (a pair without an edge counts 0)."""
    links: list[dict[int, float]] = [{} for _ in range(n)]
    heap: list[tuple[float, int, int, int, int]] = []
    for a, b, s in zip(rows.tolist(), cols.tolist(), sims.tolist(), strict=True):
        links[a][b] = s
        links[b][a] = s
        if s >= threshold:
            heap.append((-s, a, b, 0, 0))
    heapq.heapify(heap)
    size = [1] * n
    version = [0] * n  # a group's entries in the heap are stale once it changed
    parent = list(range(n))
    while heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if parent[a] != a or parent[b] != b or version[a] != va or version[b] != vb:
            continue
        if len(links[a]) < len(links[b]):  # merge the smaller adjacency into the larger
            a, b = b, a
        parent[b] = a
        size[a] += size[b]
        version[a] += 1
        merged, gone = links[a], links[b]
        merged.pop(b, None)
        gone.pop(a, None)
        for c, s in gone.items():
            total = merged.get(c, 0.0) + s
            merged[c] = total
            other = links[c]
            del other[b]
            other[a] = total
        links[b] = {}
        for c, total in merged.items():
            mean = total / (size[a] * size[c])
            if mean >= threshold:
                x, y = (a, c) if a < c else (c, a)
                heapq.heappush(heap, (-mean, x, y, version[x], version[y]))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    return [root(i) for i in range(n)]


def reconcile(
    articles: Sequence[WindowArticle] | Window,
    clusters: Sequence[Sequence[int]],
    opened: Mapping[int, tuple[datetime | None, int]],
) -> Plan:
    """Map ``clusters`` onto the stored stories (see the module's docstring).

    ``opened``: per stored story, the key that says which is older (its first publication
    time, its id) for ties."""
    if isinstance(articles, Window):
        story_of = dict(zip(articles.ids.tolist(), articles.stories.tolist(), strict=True))
    else:
        story_of = {a.id: a.story_id for a in articles}
    plan = Plan()
    taken: dict[int, int] = {}  # story -> index of the cluster that keeps its id
    # Larger clusters choose first; among equals, the one holding the older story.
    order = sorted(
        range(len(clusters)),
        key=lambda i: (-len(clusters[i]), min(clusters[i])),
    )
    target: dict[int, int | str] = {}
    for i in order:
        counts = Counter(story_of[a] for a in clusters[i])
        ranked = sorted(counts, key=lambda s: (-counts[s], _older(opened.get(s)), s))
        free = [s for s in ranked if s not in taken]
        # Only a story holding members of this cluster can lend it its id.
        if free:
            taken[free[0]] = i
            target[i] = free[0]
        else:
            key = f"split-{min(clusters[i])}"
            target[i] = key
            plan.splits[key] = ranked[0]
    destinations: dict[int, Counter[int | str]] = defaultdict(Counter)
    for i, members in enumerate(clusters):
        for a in members:
            destinations[story_of[a]][target[i]] += 1
            if story_of[a] != target[i]:
                plan.moves[a] = target[i]
    for story, went in destinations.items():
        if story in taken:
            plan.kept.add(story)
        else:  # every member left: merged into where most of them went
            plan.merged[story] = sorted(went, key=lambda s: (-went[s], str(s)))[0]
    return plan


def _older(key: tuple[datetime | None, int] | None) -> tuple[int, float, int]:
    if key is None:
        return (2, 0.0, 0)
    when, ident = key
    return (0, when.timestamp(), ident) if when is not None else (1, 0.0, ident)
