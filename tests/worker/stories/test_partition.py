"""Average link over a window and the mapping of its clusters onto stored stories."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from worker.stories.partition import (
    DEFAULT_REFINE_CONFIG,
    WindowArticle,
    cluster,
    reconcile,
)

T0 = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
LONG = 10**6  # terms: no length calibration to speak of


def at_cosine(cos: float) -> dict[str, float]:
    """A unit vector whose cosine with {"x": 1} is ``cos``."""
    return {"x": cos, "y": math.sqrt(1 - cos * cos)}


def article(
    ident: int, story: int, vector: dict[str, float], *, days: float | None = None
) -> WindowArticle:
    when = None if days is None else T0 + timedelta(days=days)
    return WindowArticle(ident, story, vector, LONG, when)


def test_pairs_above_the_threshold_are_one_cluster_below_it_two() -> None:
    threshold = DEFAULT_REFINE_CONFIG.threshold
    together = cluster([article(1, 1, {"x": 1.0}), article(2, 2, at_cosine(threshold + 0.01))])
    apart = cluster([article(1, 1, {"x": 1.0}), article(2, 2, at_cosine(threshold - 0.01))])
    assert together == [[1, 2]]
    assert apart == [[1], [2]]


def test_hysteresis_keeps_a_story_whose_pair_falls_within_the_margin() -> None:
    # The same pair, just under the threshold: kept together when it is one story already,
    # not joined when it is two (the margin is the gain a change must clear).
    cos = DEFAULT_REFINE_CONFIG.threshold - DEFAULT_REFINE_CONFIG.margin / 2
    assert cluster([article(1, 7, {"x": 1.0}), article(2, 7, at_cosine(cos))]) == [[1, 2]]
    assert cluster([article(1, 7, {"x": 1.0}), article(2, 8, at_cosine(cos))]) == [[1], [2]]


def test_average_link_does_not_chain() -> None:
    # 1-2 and 2-3 are close, 1-3 share nothing: with the mean of the pairs, 3 joins only if
    # (s13 + s23) / 2 clears the threshold.
    a = {"x": 1.0}
    b = {"x": 0.8, "y": 0.6}
    c = {"y": 1.0}
    assert cluster([article(1, 1, a), article(2, 2, b), article(3, 3, c)]) == [[1, 2], [3]]


def test_time_separates_a_recurring_event_and_keeps_a_week_of_coverage() -> None:
    def pair(cos: float, days: float | None) -> list[WindowArticle]:
        first = None if days is None else T0
        second = None if days is None else T0 + timedelta(days=days)
        return [
            WindowArticle(1, 1, {"x": 1.0}, 30, first),
            WindowArticle(2, 2, at_cosine(cos), 30, second),
        ]

    assert cluster(pair(0.3, None)) == [[1], [2]]  # undated: the words alone, not enough
    assert cluster(pair(0.3, 4)) == [[1, 2]]  # four days apart: one event's coverage
    assert cluster(pair(1.0, 60)) == [[1], [2]]  # two months: even the same words


def test_short_texts_are_judged_on_the_scale_of_long_ones() -> None:
    cos = 0.25
    long_pair = [article(1, 1, {"x": 1.0}), article(2, 2, at_cosine(cos))]
    short_pair = [
        WindowArticle(1, 1, {"x": 1.0}, 6, None),
        WindowArticle(2, 2, at_cosine(cos), 6, None),
    ]
    assert cluster(long_pair) == [[1], [2]]
    assert cluster(short_pair) == [[1, 2]]


def test_a_shared_phrase_adds_to_the_words_similarity() -> None:
    # Two headlines whose words alone fall short: sharing a phrase ("world cup") is evidence
    # beyond its two words, the pair cosine adds to the terms' cosine.
    cos = 0.1
    words = [
        WindowArticle(1, 1, {"x": 1.0}, 6, None),
        WindowArticle(2, 2, at_cosine(cos), 6, None),
    ]
    phrased = [
        WindowArticle(1, 1, {"x": 1.0}, 6, None, {"world cup": 1.0}),
        WindowArticle(2, 2, at_cosine(cos), 6, None, {"world cup": 0.6, "cup final": 0.8}),
    ]
    assert cluster(words) == [[1], [2]]
    assert cluster(phrased) == [[1, 2]]


def test_a_cluster_keeps_the_id_of_the_story_holding_most_of_it() -> None:
    articles = [article(1, 10, {}), article(2, 11, {}), article(3, 11, {})]
    plan = reconcile(articles, [[1, 2, 3]], {10: (T0, 10), 11: (T0, 11)})
    assert plan.moves == {1: 11}
    assert plan.merged == {10: 11}
    assert plan.splits == {}


def test_on_ties_the_story_opened_first_keeps_its_id() -> None:
    articles = [article(1, 10, {}), article(2, 11, {})]
    plan = reconcile(articles, [[1, 2]], {10: (T0 + timedelta(hours=1), 10), 11: (T0, 11)})
    assert plan.moves == {1: 11}
    assert plan.merged == {10: 11}


def test_a_story_cut_in_two_keeps_its_id_for_the_larger_part() -> None:
    articles = [article(1, 10, {}), article(2, 10, {}), article(3, 10, {})]
    plan = reconcile(articles, [[1, 2], [3]], {10: (T0, 10)})
    assert plan.splits == {"split-3": 10}
    assert plan.moves == {3: "split-3"}
    assert plan.kept == {10}
    assert plan.merged == {}


def test_an_unchanged_partition_plans_nothing() -> None:
    articles = [article(1, 10, {}), article(2, 10, {}), article(3, 11, {})]
    plan = reconcile(articles, [[1, 2], [3]], {10: (T0, 10), 11: (T0, 11)})
    assert (plan.moves, plan.splits, plan.merged) == ({}, {}, {})


def test_one_shared_word_is_thin_evidence_between_short_texts() -> None:
    """Two 6-term headlines sharing one heavy term and no phrase ("Bush" in one about the
    Saints' running back and one about the president): the length calibration's credit is
    cut (``DEFAULT_ONE_WORD_CREDIT``). Two shared terms, a shared phrase, or two texts near in
    time in a sparse stream keep it whole."""
    cos = 0.18  # joined with the whole credit (x 2.56), apart with half of it (x 1.78)

    def pair(
        first: dict[str, float],
        second: dict[str, float],
        days: float | None = None,
        phrases: tuple[dict[str, float], dict[str, float]] | None = None,
    ) -> list[WindowArticle]:
        when = None if days is None else T0
        later = None if days is None else T0 + timedelta(days=days)
        a, b = phrases or (None, None)
        return [WindowArticle(1, 1, first, 6, when, a), WindowArticle(2, 2, second, 6, later, b)]

    one_word = ({"bush": 1.0}, {"bush": cos, "saints": math.sqrt(1 - cos * cos)})
    two_words = (
        {"bush": 0.8, "veto": 0.6},
        {"bush": 0.8 * cos, "veto": 0.6 * cos, "saints": math.sqrt(1 - cos * cos)},
    )
    assert cluster(pair(*one_word)) == [[1], [2]]
    assert cluster(pair(*two_words)) == [[1, 2]]
    assert cluster(pair(*one_word, phrases=({"bush veto": 1.0}, {"bush veto": 0.01}))) == [[1, 2]]
    assert cluster(pair(*one_word, days=0.5)) == [[1, 2]]
    # Without the cut the one-word pair is joined: the test measures the cut, not the cosine.
    whole = replace(DEFAULT_REFINE_CONFIG, one_word_credit=1.0)
    assert cluster(pair(*one_word), whole) == [[1, 2]]
