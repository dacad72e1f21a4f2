"""How much a similarity counts, given when two texts were published and how long they are.

Usage::

    time_decay(timedelta(days=4))                 # 0.97: four days apart, one event's coverage
    time_decay(timedelta(days=40))                # 0.004: a recurring event, not this one
    length_factor(6)                              # 3.0: a headline of 6 terms (an article: ~1.01)
    pair_scale(timedelta(hours=3), 6)             # 13.5: two headlines published together
    pair_scale(None, 6)                           # 3.0: the same two headlines, undated

These are calibrations, not thresholds: the thresholds (``DEFAULT_JOIN_THRESHOLD``,
``DEFAULT_REFINE_THRESHOLD``) stay the same for every kind of text and stream.

**Time.** Coverage of one event arrives over days (the wire first, analyses and follow-ups
later), and the same kind of event recurs weeks or months later with the same words (a second
earthquake, another rehab stay). So the gap between two publication times is evidence, and a
smooth one: ``1 / (1 + (gap / scale)^4)`` is flat over the days an event is covered (0.94 at
five days: coverage days apart is not penalized), half at ``DEFAULT_TIME_SCALE``, and all but
forbids a month (0.012 at 30 days).

**Length.** The cosine of two texts about one event grows with how many terms they hold: two
headlines share two words of six, two articles share dozens of a hundred. Scaled by
``1 + (DEFAULT_LENGTH_TERMS / terms)^2`` (terms of the shorter text), a headline-only article
is judged on the scale of full texts, while an article of ~100 terms is left as it was (+0.7%):
its words decide.

**Both, for a pair** (``pair_scale``, the refinement's): two texts published close together
are likelier one event than two of unknown dates, and that evidence matters where the words
are few. So for a dated pair the length constant is ``DEFAULT_NEAR_TIME_PRIOR`` times larger:
two headlines of the same hour count ~13x, two long articles of the same day ~1.05x (a
same-day article of another event with the same names stays apart), an undated pair as
``length_factor`` says. The evidence is worth that much only in a sparse stream: among
thousands of articles a day, every event shares the hour with many others. So the
refinement scales the prior down in proportion above ``DEFAULT_SPARSE_PER_DAY`` dated
articles a day in its window (none is left in a worker's live window of a busy feed list).
The refinement passes its own length constant and prior (``partition.DEFAULT_REFINE_*``:
its similarity adds the cosine of the texts' adjacent term pairs, which already credits part
of what two short texts share, against a higher threshold).

Measured on ECB+ and its dated / titles-only / headline-length variants (bench/, docs/stories.md).
"""

from __future__ import annotations

from datetime import timedelta

#: Half-weight gap of the time curve: the days of an event's coverage stay together.
DEFAULT_TIME_SCALE = timedelta(days=10)
#: How much larger the length constant of a pair of dated texts is than an undated pair's.
DEFAULT_NEAR_TIME_PRIOR = 2.5
#: A stream of at most this many dated articles a day gets the full near-in-time prior; a
#: denser one proportionally less (``pair_scale``'s ``near``).
DEFAULT_SPARSE_PER_DAY = 100.0
#: The length calibration's constant: a text of this many terms counts twice.
DEFAULT_LENGTH_TERMS = 8.5


def time_decay(gap: timedelta, scale: timedelta = DEFAULT_TIME_SCALE) -> float:
    """1 at no gap, flat for days, 0.5 at ``scale``, ~(scale / gap)^4 far away (either sign)."""
    ratio = gap / scale
    return 1.0 / (1.0 + ratio**4)


def length_factor(terms: int, constant: float = DEFAULT_LENGTH_TERMS) -> float:
    """The similarity scale of a text with this many distinct terms (the shorter of a pair)."""
    return 1.0 + (constant / max(terms, 1)) ** 2


def pair_scale(
    gap: timedelta | None,
    terms: int,
    *,
    scale: timedelta = DEFAULT_TIME_SCALE,
    near: float = DEFAULT_NEAR_TIME_PRIOR,
    constant: float = DEFAULT_LENGTH_TERMS,
) -> float:
    """What the cosine of two texts ``gap`` apart (None: either is undated), the shorter of
    ``terms`` distinct terms, is multiplied by."""
    if gap is None:
        return length_factor(terms, constant)
    return time_decay(gap, scale) * length_factor(terms, constant * near)
