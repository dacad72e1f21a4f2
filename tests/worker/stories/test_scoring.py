"""The time and length calibrations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from worker.stories.scoring import (
    DEFAULT_LENGTH_TERMS,
    DEFAULT_TIME_SCALE,
    length_factor,
    pair_scale,
    time_decay,
)


def test_time_decay_keeps_the_days_of_coverage_and_all_but_forbids_a_month() -> None:
    assert time_decay(timedelta(0)) == 1.0
    assert time_decay(timedelta(days=5)) > 0.9
    assert time_decay(DEFAULT_TIME_SCALE) == pytest.approx(0.5)
    assert time_decay(timedelta(days=-2)) == time_decay(timedelta(days=2))
    assert time_decay(timedelta(days=30)) < 0.02


def test_short_texts_count_more_long_ones_as_they_are() -> None:
    assert length_factor(6) == pytest.approx(1 + (DEFAULT_LENGTH_TERMS / 6) ** 2)
    assert length_factor(6) > 2
    assert length_factor(100) < 1.01
    assert length_factor(0) == length_factor(1)  # an empty text does not divide by zero


def test_a_dated_pair_near_in_time_counts_more_an_undated_one_as_its_length_says() -> None:
    assert pair_scale(None, 6) == length_factor(6)
    assert pair_scale(timedelta(hours=3), 6) > 2 * length_factor(6)
    assert pair_scale(timedelta(0), 100) < 1.05  # long texts: their words decide
    assert pair_scale(timedelta(days=60), 6) < 0.1
