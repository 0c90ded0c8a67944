"""The median's order-statistic interval in linear time is today's exact interval.

The reference is the exact computation the interval used before (integer sums of C(n, i),
compared with the tail's exact binary value): quadratic in big integers, so it runs here
once per n for every tail at once. The linear rank must equal it for every n and tail it
is compared at, including the ties where P(B <= j) equals the tail exactly (tail 1/64 at
n = 6: the ends of six values), and the near-ties the floats cannot decide alone.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest

from bench.results import estimates
from bench.results.estimates import (
    exact_lower_sum,
    fair_coin_cdf,
    log_lower_cdf,
    median_interval,
    order_rank,
)

TAILS = (0.0, 1e-300, 0.0005, 0.005, 0.0125, 0.025, 0.05, 1 / 64, 1 / 128, 0.1, 0.3, 0.5, 1.0,
         (1 - 0.99) / 2, (1 - 0.95) / 2, (1 - 0.9) / 2)


def exact_ranks(n: int, tails: tuple[float, ...]) -> dict[float, int]:
    """For each tail, the largest k with P(B < k) <= tail, by the integer sums."""
    limits = {tail: Fraction(tail) * 2**n for tail in tails}
    ranks = dict.fromkeys(tails, 0)
    term = total = 1
    for j in range(n + 1):
        if j:
            term = term * (n - j + 1) // j
            total += term
        below = [tail for tail, limit in limits.items() if total <= limit]
        if not below:
            break
        for tail in below:
            ranks[tail] = j + 1
    return ranks


@pytest.mark.parametrize("sizes", [range(0, 700), [997, 1000, 1024, 2047, 2048, 3001, 4096,
                                                   5000, 7919, 10_000, 16_384]])
def test_the_linear_rank_is_the_exact_rank(sizes: range | list[int]) -> None:
    for n in sizes:
        expected = exact_ranks(n, TAILS)
        for tail in TAILS:
            assert order_rank(n, tail) == expected[tail], (n, tail)


def test_random_sizes_and_tails_agree() -> None:
    rng = random.Random(20)
    for _ in range(150):
        n = rng.randint(6, 6000)
        tails = tuple(rng.uniform(1e-4, 0.1) for _ in range(4))
        expected = exact_ranks(n, tails)
        for tail in tails:
            assert order_rank(n, tail) == expected[tail], (n, tail)


def test_an_exact_tie_is_decided_in_integers(monkeypatch: pytest.MonkeyPatch) -> None:
    """P(B <= 0) = 1/64 at n = 6: the tail equals it, so k = 1 (the float log alone could
    fall on either side); the integer check is what decides."""
    assert order_rank(6, 1 / 64) == 1
    assert order_rank(6, math.nextafter(1 / 64, 0)) == 0
    calls: list[tuple[int, int]] = []
    exact = estimates.exact_lower_sum

    def counted(n: int, j: int) -> int:
        calls.append((n, j))
        return exact(n, j)

    monkeypatch.setattr(estimates, "exact_lower_sum", counted)
    assert order_rank(6, 1 / 64) == 1
    assert (6, 0) in calls
    calls.clear()
    order_rank(10_000, 0.025)  # far from any tie: floats only
    assert not calls


def test_the_float_tail_is_good_to_the_margin() -> None:
    worst = 0.0
    for n in (7, 100, 1000, 5000, 20_000):
        for j in range(0, n + 1, max(1, n // 37)):
            exact = Fraction(exact_lower_sum(n, j), 2**n)
            logged = math.log(exact.numerator) - math.log(exact.denominator)
            worst = max(worst, abs(log_lower_cdf(n, j) - logged))
    assert worst < estimates.TIE_MARGIN / 100


def test_fair_coin_cdf_beyond_the_exact_sizes_matches_scipy() -> None:
    from scipy.stats import binom

    for n in (estimates.EXACT_TRIALS + 1, 10_001, 100_000):
        for k in (n // 2 - 300, n // 2 - 40, n // 2, n // 2 + 41, n - 1):
            assert fair_coin_cdf(k, n) == pytest.approx(float(binom.cdf(k, n, 0.5)), rel=1e-8)


def test_a_hundred_thousand_instances_get_the_interval_scipy_gives() -> None:
    """n = 100,000 (the plan's limit), where the integer sums took half an hour: the ends
    are the order statistics at scipy's binomial quantiles."""
    from scipy.stats import binom

    values = np.random.default_rng(3).lognormal(0.0, 0.3, 100_000)
    low, high = median_interval(values) or (None, None)
    tail = (1 - 0.95) / 2
    k = int(binom.ppf(tail, values.size, 0.5))
    k += int(binom.cdf(k, values.size, 0.5) <= tail)  # P(B < k) <= tail, the largest such k
    ordered = np.sort(values)
    assert (low, high) == (ordered[k - 1], ordered[values.size - k])
