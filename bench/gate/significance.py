"""The statistics behind the CI gate: tests of each row, intervals of changes, the three rule
decisions and the correction for the number of rows.

Every decision is a test that gives the candidate the benefit of the doubt about whether a
problem exists at all:

- relative: a regression fails when it is significant AND the data cannot show it is smaller
  than the threshold (the bad-side bound of the change's interval reaches the threshold and
  the absolute floor): a non-inferiority margin on top of a significance test. Inside one
  run (A/B) and between runs without a calibration the test is Mann-Whitney U on the
  per-instance figures. Between two sittings a row also moves by a sitting effect that no
  instance of either run shows (load, caches, daemons); with a calibration from A/A sittings
  (bench.gate.calibration: the SD s of the row's log median over K sittings) the change of
  log medians d is tested against it instead: d / (s * sqrt(2)) against Student's t with
  K - 1 degrees of freedom (the sittings' medians carry their instances' noise too).
- ratio and absolute limits: fail when the limit is exceeded significantly (the one-sided
  bound of the interval lies beyond the limit); a point estimate beyond the limit whose
  interval still reaches the limit is a warning.
- the gate as a whole: each row's p-value is adjusted by Holm's step-down over every row of
  the gate, so the chance that identical code fails any row is at most alpha.

Intervals are two-sided at 1 - 2 * alpha, so each side is a one-sided 1 - alpha bound. The
bootstrap and the exact median intervals are bench.results.estimates', as the summary uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bench.results.estimates import (
    Floats,
    Ratio,
    as_array,
    fair_coin_cdf,
    percentile_interval,
    ratio_of_medians,
    resampled_medians,
)
from bench.results.numbers import format_p

ASYMPTOTIC_FROM = 8  # Mann-Whitney U exact when a sample is this small (and no ties)
Verdict = Literal["pass", "fail", "improved", "warn", "underpowered"]


def rank_p_values(baseline: ArrayLike, candidate: ArrayLike, lower_is_better: bool = True,
                  two_sided: bool = True) -> tuple[float, float]:
    """(p that the candidate is worse, p that it is better), Mann-Whitney U.

    Two-sided: twice the one-sided p-value (capped at 1), so each direction's error rate is
    alpha / 2 and the pair together is the usual two-sided test at alpha.
    """
    base, cand = as_array(baseline), as_array(candidate)
    greater, less = one_sided_rank_p_values(cand, base)
    worse, better = (greater, less) if lower_is_better else (less, greater)
    if two_sided:
        return min(1.0, 2 * worse), min(1.0, 2 * better)
    return worse, better


def one_sided_rank_p_values(first: Floats, second: Floats) -> tuple[float, float]:
    """(p that `first` is stochastically greater, p that it is smaller), as scipy's
    mannwhitneyu(method="auto") computes them: the exact distribution of U when either
    sample has at most 8 values and none are tied, else the normal approximation with tie
    and continuity corrections. Both sides at once, without scipy: its wrapper costs
    milliseconds a call (`bench calibrate` makes tens of thousands) and scipy.stats a
    second and a half of imports to every `bench gate`; tests/unit/test_gate_stats.py
    holds the two to the same p-values."""
    n1, n2 = first.size, second.size
    ranks, ties = average_ranks(np.concatenate([first, second]))
    u_first = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2
    u_second = n1 * n2 - u_first
    if min(n1, n2) <= ASYMPTOTIC_FROM and not np.any(ties > 1):
        return u_tail(round(u_first), n1, n2), u_tail(round(u_second), n1, n2)
    n = n1 + n2
    tie_term = float(np.sum(ties.astype(float) ** 3 - ties))
    scale = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    if scale == 0:  # every value tied: no evidence either way (scipy's z is -inf, p 1)
        return 1.0, 1.0
    middle = n1 * n2 / 2
    return normal_sf((u_first - middle - 0.5) / scale), normal_sf((u_second - middle - 0.5) / scale)


def average_ranks(values: Floats) -> tuple[Floats, NDArray[np.int64]]:
    """Ranks 1..n, tied values sharing their average rank, and the size of each tie group."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average: Floats = (ends - (counts - 1) / 2)[inverse].astype(float)
    return average, counts


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def u_tail(u: int, n1: int, n2: int) -> float:
    """P(U >= u) for Mann-Whitney's U of samples of n1 and n2 values, no ties, exactly."""
    tails = u_tails(min(n1, n2), max(n1, n2))
    return tails[min(max(u, 0), len(tails) - 1)]


@lru_cache(maxsize=64)
def u_tails(m: int, n: int) -> tuple[float, ...]:
    """P(U >= u) for u = 0..m*n. The counts of each U are the coefficients of the Gaussian
    binomial [m+n choose m]_q = prod_i (1 - q^(n+i)) / (1 - q^i), i = 1..m, built one factor
    at a time on a series cut at degree m*n (no step moves a term down)."""
    size = m * n + 1
    counts = [1] + [0] * (size - 1)
    for i in range(1, m + 1):
        for u in range(size - 1, n + i - 1, -1):
            counts[u] -= counts[u - n - i]
        for u in range(i, size):
            counts[u] += counts[u - i]
    total = math.comb(m + n, m)
    tails, above = [], 0
    for count in reversed(counts):
        above += count
        tails.append(above / total)
    return tuple(reversed(tails))


def min_rank_p_value(n_baseline: int, n_candidate: int, two_sided: bool = True) -> float:
    """The smallest p-value Mann-Whitney U can give at these sizes (complete separation)."""
    one_sided = 1 / math.comb(n_baseline + n_candidate, n_baseline)
    return min(1.0, 2 * one_sided) if two_sided else one_sided


@dataclass(frozen=True)
class MedianChange:
    """Candidate median against baseline median: absolute (unit) and relative (fraction)."""

    baseline_median: float
    candidate_median: float
    absolute: float
    absolute_low: float
    absolute_high: float
    relative: float | None  # None when the baseline median is not positive
    relative_low: float | None
    relative_high: float | None


def median_change(baseline: ArrayLike, candidate: ArrayLike, alpha: float,
                  seed: int = 0) -> MedianChange:
    """Change of medians with a bootstrap 1 - 2 * alpha interval (both sides resampled)."""
    base, cand = as_array(baseline), as_array(candidate)
    rng = np.random.default_rng(seed)
    base_m, cand_m = resampled_medians(base, rng), resampled_medians(cand, rng)
    b_med, c_med = float(np.median(base)), float(np.median(cand))
    abs_low, abs_high = percentile_interval(cand_m - base_m, alpha, alpha)
    if b_med <= 0:
        return MedianChange(b_med, c_med, c_med - b_med, abs_low, abs_high, None, None, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = cand_m / base_m - 1
    rel_low, rel_high = percentile_interval(rel, alpha, alpha)
    return MedianChange(b_med, c_med, c_med - b_med, abs_low, abs_high, c_med / b_med - 1,
                        rel_low, rel_high)


def sitting_change(baseline: ArrayLike, candidate: ArrayLike, alpha: float, sd: float,
                   dof: int, lower_is_better: bool = True,
                   two_sided: bool = True) -> tuple[float, float, float, float] | None:
    """The change of log medians between two sittings against their calibrated spread.

    d = log(candidate median / baseline median); under identical code d / (sd * sqrt(2))
    follows Student's t with `dof` degrees of freedom (sd: the SD of a row's log median over
    dof + 1 A/A sittings). Returns (relative low, relative high, p worse, p better), the
    interval at 1 - 2 * alpha; None when a median is not positive (no log scale).
    """
    b_med, c_med = float(np.median(as_array(baseline))), float(np.median(as_array(candidate)))
    if min(b_med, c_med) <= 0:
        return None
    d = math.log(c_med / b_med)
    scale = sd * math.sqrt(2)
    if scale == 0:  # identical medians in every sitting: any change is beyond the spread
        up, down = float(d <= 0), float(d >= 0)
        low = high = math.expm1(d)
    else:
        from scipy.special import stdtr, stdtrit  # Student's t, only for a calibrated gate

        up, down = float(stdtr(dof, -d / scale)), float(stdtr(dof, d / scale))
        reach = -float(stdtrit(dof, alpha)) * scale
        low, high = math.expm1(d - reach), math.expm1(d + reach)
    worse, better = (up, down) if lower_is_better else (down, up)
    if two_sided:
        worse, better = min(1.0, 2 * worse), min(1.0, 2 * better)
    return low, high, worse, better


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


def short_of(change: MedianChange, percent: float, floor: float, worse: bool,
             lower_is_better: bool) -> str | None:
    """None when the worse (or better) side of the interval reaches both the threshold and
    the floor; else which one the whole interval stays short of."""
    towards_high = worse == lower_is_better  # the side of the interval that points that way
    abs_bound = change.absolute_high if towards_high else -change.absolute_low
    if abs_bound < floor:
        return "the absolute floor"
    if change.relative_low is None or change.relative_high is None:
        return None  # no relative change of a non-positive median: the floor decides
    rel_bound = change.relative_high if towards_high else -change.relative_low
    return None if rel_bound >= percent / 100 else f"the {percent:g} % threshold"


def points_worse(change: MedianChange, lower_is_better: bool) -> bool:
    return change.absolute > 0 if lower_is_better else change.absolute < 0


def relative_decision(change: MedianChange, p_worse: float, p_better: float, *, percent: float,
                      floor: float, alpha: float, lower_is_better: bool = True) -> Decision:
    """fail: significantly worse and not shown smaller than the threshold (or the floor)."""
    if p_worse < alpha and points_worse(change, lower_is_better):
        short = short_of(change, percent, floor, True, lower_is_better)
        if short is None:
            reached = "the floor" if change.relative is None else \
                f"the {percent:g} % threshold and the floor"
            return Decision("fail", f"significantly worse (p={format_p(p_worse)}) and the interval "
                            f"reaches {reached}")
        return Decision("pass", f"significantly worse (p={format_p(p_worse)}), but the whole interval "
                        f"stays below {short}")
    if p_better < alpha and not points_worse(change, lower_is_better):
        short = short_of(change, percent, floor, False, lower_is_better)
        if short is None:
            return Decision("improved", f"significantly better (p={format_p(p_better)}), possibly by "
                            f"{percent:g} % or more: refresh the baseline")
        return Decision("pass", f"significantly better (p={format_p(p_better)}), but by less than "
                        f"{short}")
    return Decision("pass", "no significant change")


@dataclass(frozen=True)
class RelativeTest:
    """A relative rule's row, tested: the change, both one-directional p-values, the power."""

    change: MedianChange
    p_worse: float
    p_better: float
    underpowered: str | None  # why no outcome can reach alpha, if so
    sitting_sd: float | None  # the calibrated spread of the row between sittings, if any


def relative_test(baseline: ArrayLike, candidate: ArrayLike, *, alpha: float = 0.01,
                  two_sided: bool = True, lower_is_better: bool = True,
                  sitting: tuple[float, int] | None = None, seed: int = 0) -> RelativeTest:
    """The change and its p-values: the rank test on the instances; between sittings with a
    calibration (sd, dof), the test against the sittings' spread instead.

    A sitting's median already carries its instances' noise as well as the sitting's own
    shift, and the calibration measured both together over A/A sittings, so between sittings
    the calibrated test alone decides. The rank test asks another question there (are the
    instances of the two sittings alike?), which sitting effects answer "no" for identical
    code, and which the host's discrete per-instance levels make too weak to see a 20 %
    change in 12 instances. The interval shown is the wider of the bootstrap's and the
    sittings'.
    """
    base, cand = as_array(baseline), as_array(candidate)
    few = None
    if min_rank_p_value(base.size, cand.size, two_sided) >= alpha:
        few = f"n={base.size}/{cand.size} cannot reach p < {alpha:g}: add repetitions"
    change = median_change(base, cand, alpha, seed)
    p_worse, p_better = rank_p_values(base, cand, lower_is_better, two_sided)
    modelled = None if sitting is None else sitting_change(
        base, cand, alpha, sitting[0], sitting[1], lower_is_better, two_sided)
    if modelled is None or change.relative_low is None or change.relative_high is None:
        return RelativeTest(change, p_worse, p_better, few, None)
    low, high, s_worse, s_better = modelled
    rel_low, rel_high = min(low, change.relative_low), max(high, change.relative_high)
    b_med = change.baseline_median
    wider = replace(change, relative_low=rel_low, relative_high=rel_high,
                    absolute_low=min(change.absolute_low, b_med * rel_low),
                    absolute_high=max(change.absolute_high, b_med * rel_high))
    return RelativeTest(wider, s_worse, s_better, few, None if sitting is None else sitting[0])


def sign_test(values: ArrayLike, limit: float, lower_is_better: bool = True) -> float:
    """Exact p that the median is beyond `limit` (above it when lower is better).

    The order-statistic bound of median_bounds lies beyond the limit at tail alpha exactly
    when this p-value is at most alpha: the two are one test.
    """
    data = as_array(values)
    beyond = int((data > limit).sum() if lower_is_better else (data < limit).sum())
    return fair_coin_cdf(data.size - beyond, data.size)  # P(B >= beyond), by symmetry


def attainable_tails(*sizes: int) -> list[float]:
    """Every tail at which an order-statistic bound of a median of these sizes changes."""
    found = {fair_coin_cdf(k - 1, n) for n in sizes for k in range(1, n // 2 + 1)}
    return sorted(t for t in found if t < 0.5)


def ratio_test(candidate: ArrayLike, reference: ArrayLike, limit: float, alpha: float,
               lower_is_better: bool = True) -> tuple[Ratio, float] | None:
    """The ratio of medians with its 1 - 2 * alpha interval, and the p-value of "the ratio is
    beyond `limit`": the smallest tail whose bound lies beyond the limit (the interval's
    inversion, so the fail decision and the interval shown agree). None: no ratio."""
    shown = ratio_of_medians(candidate, reference, 1 - 2 * alpha)
    if shown is None:
        return None
    cand, ref = as_array(candidate), as_array(reference)
    for tail in attainable_tails(cand.size, ref.size):
        bound = ratio_of_medians(cand, ref, 1 - 2 * tail)
        if bound is None or bound.low is None or bound.high is None:
            continue
        if (bound.low > limit) if lower_is_better else (bound.high < limit):
            return shown, tail
    return shown, 1.0


def limit_decision(low: float, point: float, high: float, limit: float,
                   lower_is_better: bool = True) -> Decision:
    """fail when the bound on the good side is beyond the limit; warn when only the point is."""
    beyond_bound = low > limit if lower_is_better else high < limit
    beyond_point = point > limit if lower_is_better else point < limit
    if beyond_bound:
        return Decision("fail", "beyond the limit, significantly")
    if beyond_point:
        return Decision("warn", "the median is beyond the limit, but not significantly")
    return Decision("pass", "within the limit")


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values: reject every row whose adjusted p is below alpha
    and the chance of rejecting any true null is at most alpha, whatever their dependence."""
    order = np.argsort(p_values, kind="stable")
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted

