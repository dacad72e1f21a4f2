"""How much a similarity counts, given when two texts were published and how long they are.

Usage::

    time_prior(timedelta(days=2))        # 2.63: two days apart, likely one event's coverage
    time_prior(timedelta(days=40))       # 0.09: a recurring event of the same kind, not this one
    time_decay(timedelta(days=2))        # 0.92: the same curve, 1 at no distance
    length_factor(6)                     # 2.17: a headline of 6 terms; ~1.07 for an article

Both are calibrations, not thresholds: the thresholds (``DEFAULT_JOIN_THRESHOLD``,
``DEFAULT_REFINE_THRESHOLD``) stay the same for every kind of text and stream.

**Time.** Coverage of one event arrives over days (the wire first, analyses and follow-ups
later), and the same kind of event recurs weeks or months later with the same words (a second
earthquake, another rehab stay). So the gap between two publication times is evidence, and a
smooth one: a Cauchy curve ``1 / (1 + (gap / scale)^2)`` keeps a week's coverage together
(0.5 at ``DEFAULT_TIME_SCALE``) and all but forbids a month (0.05 at 30 days). Two dated texts
published close together are also more likely one event than two texts of unknown dates, so
pairs of dated texts get up to ``DEFAULT_NEAR_TIME_PRIOR`` times the weight of undated ones
(the prior odds of "same event" given the gap; an undated pair counts 1, no evidence).

**Length.** The cosine of two texts about one event grows with how many terms they hold: two
headlines share two words of six, two articles share dozens of a hundred. Scaled by
``1 + DEFAULT_LENGTH_TERMS / terms`` (terms of the shorter text) a headline-only article is
judged on the scale of full texts, while an article of ~100 terms is left nearly as it was.

Measured on ECB+ and its dated / titles-only / headline-length variants (bench/, docs/stories.md).
"""

from __future__ import annotations

from datetime import timedelta

#: Half-weight gap of the time curve: a week's coverage stays together.
DEFAULT_TIME_SCALE = timedelta(days=7)
#: Weight of a pair of dated texts published at the same time, against 1 for undated texts.
DEFAULT_NEAR_TIME_PRIOR = 3.0
#: The length calibration's constant: a text of this many terms counts twice.
DEFAULT_LENGTH_TERMS = 7.0


def time_decay(gap: timedelta, scale: timedelta = DEFAULT_TIME_SCALE) -> float:
    """1 at no gap, 0.5 at ``scale``, ~(scale / gap)^2 far away (either sign of ``gap``)."""
    ratio = gap / scale
    return 1.0 / (1.0 + ratio * ratio)


def time_prior(
    gap: timedelta | None,
    *,
    scale: timedelta = DEFAULT_TIME_SCALE,
    near: float = DEFAULT_NEAR_TIME_PRIOR,
) -> float:
    """How much more a similarity of two texts ``gap`` apart counts than one of undated texts
    (``gap`` None: 1)."""
    return 1.0 if gap is None else near * time_decay(gap, scale)


def length_factor(terms: int, constant: float = DEFAULT_LENGTH_TERMS) -> float:
    """The similarity scale of a text with this many distinct terms (the shorter of a pair)."""
    return 1.0 + constant / max(terms, 1)
