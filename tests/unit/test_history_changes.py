"""Change points: bench's PELT against ruptures' (an independent implementation of the same
published method), and what it finds in series shaped like run medians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import ruptures  # a dev dependency: its absence fails, never skips

from bench.history.changes import MIN_SIZE, change_points, pelt


@pytest.mark.parametrize("seed", range(8))
def test_pelt_agrees_with_ruptures(seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels = rng.choice([0.0, 2.0, 5.0], size=4)
    signal = np.concatenate([rng.normal(level, 1.0, int(rng.integers(5, 15))) for level in levels])
    penalty = 3 * math.log(signal.size)
    theirs = ruptures.Pelt(model="l2", min_size=MIN_SIZE, jump=1).fit(
        signal.reshape(-1, 1)).predict(pen=penalty)
    assert pelt(signal, penalty) == theirs[:-1]  # ruptures ends its list with n


def test_a_twenty_percent_step_is_found_where_it_is() -> None:
    rng = np.random.default_rng(3)
    medians = np.concatenate([250 * rng.lognormal(0, 0.03, 12), 300 * rng.lognormal(0, 0.03, 8)])
    assert change_points(list(medians)) == [12]


def test_noise_alone_has_no_change_point() -> None:
    rng = np.random.default_rng(5)
    found = [change_points(list(250 * rng.lognormal(0, 0.05, 100))) for _ in range(50)]
    assert sum(bool(cuts) for cuts in found) <= 2  # measured: 1.5 % of such series


def test_one_odd_run_is_not_a_change_of_its_own() -> None:
    medians = [250.0, 251, 249, 250, 252, 380, 250, 251, 249, 250, 251, 250]
    assert change_points(medians) == []


def test_short_flat_and_non_positive_series() -> None:
    assert change_points([1.0, 2.0, 3.0]) == []  # too short for two segments
    assert change_points([5.0] * 20) == []
    assert change_points([5.0] * 10 + [9.0] * 10) == [10]  # no noise at all: any step counts
    rng = np.random.default_rng(2)  # around zero (a memory.overhead): steps, not ratios
    assert change_points(list(np.r_[rng.normal(0, 1, 10), rng.normal(10, 1, 10)])) == [10]
