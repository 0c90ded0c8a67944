"""The gate's statistics on synthetic samples, with fixed seeds: error rates, power, bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.gate.stats import (
    compare_relative,
    limit_decision,
    median_bounds,
    median_change,
    min_rank_p_value,
    min_samples_for_median_bound,
    rank_p_values,
    ratio_of_medians,
)

TRIALS = 200
N = 30
NOISE = 0.05  # lognormal sigma: about 5 % spread, latency-like (skewed to the right)


def latencies(rng: np.random.Generator, scale: float = 1.0, n: int = N,
              noise: float = NOISE) -> np.ndarray:
    return 250.0 * scale * rng.lognormal(0.0, noise, size=n)


def verdicts(shift: float, seed: int) -> list[str]:
    """The relative rule (10 %, alpha 0.01) on TRIALS pairs, the candidate scaled by 1 + shift."""
    rng = np.random.default_rng(seed)
    found: list[str] = []
    for _ in range(TRIALS):
        _, _, decision = compare_relative(latencies(rng), latencies(rng, 1 + shift), percent=10,
                                          alpha=0.01)
        found.append(decision.verdict)
    return found


def test_no_change_raises_at_most_two_percent_false_alarms() -> None:
    found = verdicts(0.0, seed=11)
    assert found.count("fail") <= 0.02 * TRIALS
    assert found.count("improved") <= 0.02 * TRIALS


def test_a_real_ten_percent_regression_is_caught_at_least_95_percent_of_the_time() -> None:
    assert verdicts(0.10, seed=12).count("fail") >= 0.95 * TRIALS


def test_a_real_ten_percent_improvement_is_reported() -> None:
    assert verdicts(-0.10 / 1.10, seed=13).count("improved") >= 0.95 * TRIALS


def test_a_significant_change_shown_smaller_than_the_threshold_passes() -> None:
    rng = np.random.default_rng(14)
    change, p_value, decision = compare_relative(latencies(rng, n=400), latencies(rng, 1.03, 400),
                                                 percent=10, alpha=0.01)
    assert p_value < 1e-6
    assert change.relative_high is not None and change.relative_high < 0.10
    assert decision.verdict == "pass" and "threshold" in decision.reason


def test_the_floor_keeps_tiny_changes_from_failing() -> None:
    rng = np.random.default_rng(15)
    base = 30.0 * rng.lognormal(0, 0.02, size=60)  # a vDSO call: 30 ns
    change, _, decision = compare_relative(base, base * 1.2, percent=10, floor=10.0, alpha=0.01)
    assert change.relative == pytest.approx(0.2)
    assert decision.verdict == "pass" and "floor" in decision.reason
    _, _, decision = compare_relative(base, base * 1.2, percent=10, floor=1.0, alpha=0.01)
    assert decision.verdict == "fail"


def test_higher_is_better_mirrors_the_rule() -> None:
    rng = np.random.default_rng(16)
    base = latencies(rng)
    _, _, worse = compare_relative(base, base * 0.8, percent=10, lower_is_better=False)
    _, _, better = compare_relative(base, base * 1.25, percent=10, lower_is_better=False)
    assert (worse.verdict, better.verdict) == ("fail", "improved")


def test_too_few_samples_are_underpowered_not_passed_silently() -> None:
    assert min_rank_p_value(5, 5) == pytest.approx(2 / math.comb(10, 5))
    assert min_rank_p_value(4, 4) > 0.01 > min_rank_p_value(5, 5)
    _, _, decision = compare_relative([1.0, 1.1, 1.2, 1.05], [9.0, 9.5, 9.9, 9.1], percent=10)
    assert decision.verdict == "underpowered"
    _, _, decision = compare_relative([1.0, 1.1, 1.2, 1.05, 1.15], [9.0, 9.5, 9.9, 9.1, 9.3],
                                      percent=10)
    assert decision.verdict == "fail"  # complete separation of 5 and 5: p = 0.0079


def test_rank_p_values_point_the_right_way() -> None:
    rng = np.random.default_rng(17)
    base = latencies(rng)
    worse, better = rank_p_values(base, base * 1.2)
    assert worse < 1e-6 < 0.5 < better
    worse_one, _ = rank_p_values(base, base * 1.2, two_sided=False)
    assert worse == pytest.approx(2 * worse_one)
    worse, better = rank_p_values(base, base * 1.2, lower_is_better=False)
    assert better < 1e-6 < 0.5 < worse


def test_change_of_a_non_positive_median_is_absolute_only() -> None:
    change = median_change([-4096.0, 0.0, 0.0, 4096.0, 0.0], [4096.0, 8192.0, 4096.0, 8192.0,
                                                               4096.0], alpha=0.01)
    assert change.relative is None and change.absolute == 4096.0
    assert change.absolute_low <= change.absolute <= change.absolute_high


def test_median_bounds_are_exact_and_conservative() -> None:
    assert median_bounds(np.arange(6.0), 0.01) is None
    assert median_bounds(np.arange(7.0), 0.01) == (0.0, 6.0)
    assert min_samples_for_median_bound(0.01) == 7
    rng = np.random.default_rng(18)
    above = below = 0
    for _ in range(2000):
        bounds = median_bounds(rng.lognormal(0.0, 0.3, size=25), 0.05)  # true median: 1
        assert bounds is not None
        above += bounds[0] > 1
        below += bounds[1] < 1
    assert above <= 0.05 * 2000 and below <= 0.05 * 2000


def test_ratio_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(19)
    misses = 0
    for _ in range(100):
        ratio = ratio_of_medians(latencies(rng, 1.3), latencies(rng), alpha=0.025)
        assert ratio is not None
        point, low, high = ratio
        misses += not low <= 1.3 <= high
        assert low <= point <= high
    assert misses <= 12  # nominal 5 %
    assert ratio_of_medians([1.0, 2.0], [0.0, 0.0], alpha=0.01) is None


@pytest.mark.parametrize(("low", "point", "high", "verdict"), [
    (1.6, 1.7, 1.8, "fail"),  # the whole interval beyond the limit
    (1.4, 1.55, 1.7, "warn"),  # the point beyond, the interval reaches back
    (1.2, 1.3, 1.6, "pass"),
])
def test_limit_decision(low: float, point: float, high: float, verdict: str) -> None:
    assert limit_decision(low, point, high, 1.5).verdict == verdict
    mirrored = limit_decision(-high, -point, -low, -1.5, lower_is_better=False)
    assert mirrored.verdict == verdict
