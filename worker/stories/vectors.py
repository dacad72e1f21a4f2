"""Sparse TF-IDF vectors and story centroids (plain dicts: term -> weight).

Usage::

    vec = weigh(terms, n_docs=1000, df={"putin": 12, ...}, proper_weight=3.0)   # unit length
    # (names and terms with a digit weigh proper_weight / number_weight times more)
    centroid = add_to_centroid(centroid, vec, keep=100)                          # top-K terms
    cosine(vec, centroid)

A document vector is L2-normalized, so a centroid (the sum of its members' vectors) weighs every
article alike whatever its length. Centroids keep only their top-K terms: that bounds both the
rows a story stores and the posting lists of the term -> story index, and the terms dropped are
the ones that contribute least to any cosine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from operator import itemgetter

from worker.stories.terms import Terms

Vector = dict[str, float]

#: Names, places and brands weigh this many times more than other words: two events of the same
#: kind differ in who and where (measured on ECB+ in docs/stories.md).
DEFAULT_PROPER_WEIGHT = 3.0
#: Terms holding a digit (ages, death tolls, magnitudes, scores, years, model numbers) weigh this
#: many times more, like names: two events of one kind also differ in their numbers (a
#: 61-year-old vs a 38-year-old victim, a 6th-round vs an 11th-round stoppage). Measured on ECB+
#: in docs/stories.md.
DEFAULT_NUMBER_WEIGHT = 3.0
#: Terms kept per story centroid.
DEFAULT_CENTROID_TERMS = 100


def idf(n_docs: int, df: int) -> float:
    """Smoothed inverse document frequency (always > 0, ~1 for a term in every document)."""
    return math.log((n_docs + 1) / (df + 1)) + 1.0


def weigh(
    terms: Terms,
    n_docs: int,
    df: Mapping[str, int],
    *,
    proper_weight: float = DEFAULT_PROPER_WEIGHT,
    number_weight: float = DEFAULT_NUMBER_WEIGHT,
) -> Vector:
    """Unit-length TF-IDF vector: sublinear term frequency x IDF x name or number boost."""
    vec: Vector = {}
    count_of = df.get
    proper = terms.proper
    log = math.log
    # ``idf`` inlined (the same operations, so the same floats): ~130 terms an article.
    documents = n_docs + 1
    for term, count in terms.counts.items():
        tf = 1.0 + log(count) if count >= 1.0 else count
        weight = tf * (log(documents / (count_of(term, 0) + 1)) + 1.0)
        if term in proper:
            weight *= proper_weight
        # A letter is never a digit (Unicode's L* vs Nd/No categories): words skip the digit
        # scan, and ``map`` scans the others in C.
        elif not term.isalpha() and any(map(str.isdigit, term)):
            weight *= number_weight
        vec[term] = weight
    return normalized(vec)


def normalized(vec: Mapping[str, float]) -> Vector:
    norm = math.sqrt(sum(w * w for w in vec.values()))
    if norm == 0.0:
        return {}
    return {t: w / norm for t, w in vec.items()}


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine of two sparse vectors (neither needs to be normalized)."""
    if len(a) > len(b):
        a, b = b, a
    dot = sum(w * b.get(t, 0.0) for t, w in a.items())
    if dot == 0.0:
        return 0.0
    na = math.sqrt(sum(w * w for w in a.values()))
    nb = math.sqrt(sum(w * w for w in b.values()))
    return dot / (na * nb)


def similarity(unit: Mapping[str, float], centroid: Mapping[str, float]) -> float:
    """Cosine of a unit-length vector with a (small, top-K) centroid: O(len(centroid))."""
    dot = 0.0
    norm = 0.0
    for t, w in centroid.items():
        norm += w * w
        dot += w * unit.get(t, 0.0)
    return dot / math.sqrt(norm) if dot > 0.0 else 0.0


def add_to_centroid(
    centroid: Mapping[str, float],
    vec: Mapping[str, float],
    *,
    keep: int = DEFAULT_CENTROID_TERMS,
    scale: float = 1.0,
) -> Vector:
    """The sum ``centroid + scale * vec``, truncated to its ``keep`` heaviest terms."""
    total = dict(centroid)
    for t, w in vec.items():
        total[t] = total.get(t, 0.0) + scale * w
    return top_terms(total, keep)


def top_terms(vec: Mapping[str, float], keep: int) -> Vector:
    """The ``keep`` heaviest terms (ties broken by term, so the result is deterministic)."""
    if len(vec) <= keep:
        return {t: w for t, w in vec.items() if w > 0.0}
    # By term, then (stable) by weight, heaviest first: the order of the key (-weight, term)
    # with two C-level sorts instead of a Python key function per term.
    ranked = sorted(vec.items())
    ranked.sort(key=itemgetter(1), reverse=True)
    return {t: w for t, w in ranked[:keep] if w > 0.0}
