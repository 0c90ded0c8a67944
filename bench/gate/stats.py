"""The statistics behind the CI gate: rank tests, intervals of changes and the three rule decisions.

Every decision is a test at level alpha that gives the candidate the benefit of the doubt
about whether a problem exists at all:

- relative: a regression fails when it is significant (Mann-Whitney U) AND the data cannot
  show it is smaller than the threshold (the bad-side bound of the change's interval
  reaches the threshold and the absolute floor). A true regression of exactly the
  threshold then fails with probability about 1 - alpha, noise alone almost never fails,
  and a significant change the data prove smaller than the threshold passes. This is a
  non-inferiority margin on top of a significance test.
- ratio and absolute limits: fail when the limit is exceeded significantly (the one-sided
  1 - alpha bound lies beyond the limit); a point estimate beyond the limit whose interval
  still reaches the limit is a warning.

Intervals are two-sided at 1 - 2 * alpha, so each side is a one-sided 1 - alpha bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binom, mannwhitneyu

RESAMPLES = 4000
BOOTSTRAP_LIMIT = 5000  # larger samples are resampled m-out-of-n (wider, so conservative)

Verdict = Literal["pass", "fail", "improved", "warn", "underpowered"]
Floats = NDArray[np.float64]


def as_array(values: ArrayLike) -> Floats:
    data: Floats = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no samples")
    return data


def rank_p_values(baseline: ArrayLike, candidate: ArrayLike, lower_is_better: bool = True,
                  two_sided: bool = True) -> tuple[float, float]:
    """(p that the candidate is worse, p that it is better), Mann-Whitney U.

    Two-sided: twice the one-sided p-value (capped at 1), so each direction's error rate is
    alpha / 2 and the pair together is the usual two-sided test at alpha.
    """
    base, cand = as_array(baseline), as_array(candidate)
    greater = float(mannwhitneyu(cand, base, alternative="greater").pvalue)
    less = float(mannwhitneyu(cand, base, alternative="less").pvalue)
    worse, better = (greater, less) if lower_is_better else (less, greater)
    if two_sided:
        return min(1.0, 2 * worse), min(1.0, 2 * better)
    return worse, better


def min_rank_p_value(n_baseline: int, n_candidate: int, two_sided: bool = True) -> float:
    """The smallest p-value Mann-Whitney U can give at these sizes (complete separation)."""
    one_sided = 1 / math.comb(n_baseline + n_candidate, n_baseline)
    return min(1.0, 2 * one_sided) if two_sided else one_sided


def resampled_medians(data: Floats, rng: np.random.Generator,
                      resamples: int = RESAMPLES) -> Floats:
    size = min(data.size, BOOTSTRAP_LIMIT)
    drawn = np.sort(data[rng.integers(0, data.size, size=(resamples, size))], axis=1)
    half = size // 2  # sorting then picking is several times faster than np.median here
    medians: Floats = drawn[:, half] if size % 2 else (drawn[:, half - 1] + drawn[:, half]) / 2
    return medians


def tails(alpha: float) -> tuple[float, float]:
    """Percentiles of a two-sided 1 - 2 * alpha interval."""
    return 100 * alpha, 100 * (1 - alpha)


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
    low_q, high_q = tails(alpha)
    abs_low, abs_high = np.percentile(cand_m - base_m, [low_q, high_q])
    if b_med <= 0:
        return MedianChange(b_med, c_med, c_med - b_med, float(abs_low), float(abs_high),
                            None, None, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = cand_m / base_m - 1
    rel_low, rel_high = np.percentile(rel[np.isfinite(rel)], [low_q, high_q])
    return MedianChange(b_med, c_med, c_med - b_med, float(abs_low), float(abs_high),
                        c_med / b_med - 1, float(rel_low), float(rel_high))


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
            return Decision("fail", f"significantly worse (p={p_worse:.2g}) and the interval "
                            f"reaches {reached}")
        return Decision("pass", f"significantly worse (p={p_worse:.2g}), but the whole interval "
                        f"stays below {short}")
    if p_better < alpha and not points_worse(change, lower_is_better):
        short = short_of(change, percent, floor, False, lower_is_better)
        if short is None:
            return Decision("improved", f"significantly better (p={p_better:.2g}), possibly by "
                            f"{percent:g} % or more: refresh the baseline")
        return Decision("pass", f"significantly better (p={p_better:.2g}), but by less than "
                        f"{short}")
    return Decision("pass", "no significant change")


def compare_relative(baseline: ArrayLike, candidate: ArrayLike, *, percent: float,
                     floor: float = 0.0, alpha: float = 0.01, two_sided: bool = True,
                     lower_is_better: bool = True,
                     seed: int = 0) -> tuple[MedianChange, float, Decision]:
    """The whole relative rule on two samples: (change, displayed p-value, decision)."""
    base, cand = as_array(baseline), as_array(candidate)
    change = median_change(base, cand, alpha, seed)
    p_worse, p_better = rank_p_values(base, cand, lower_is_better, two_sided)
    if min_rank_p_value(base.size, cand.size, two_sided) >= alpha:
        return change, min(p_worse, p_better), Decision(
            "underpowered", f"n={base.size}/{cand.size} cannot reach p < {alpha:g}: add repetitions")
    decision = relative_decision(change, p_worse, p_better, percent=percent, floor=floor,
                                 alpha=alpha, lower_is_better=lower_is_better)
    return change, min(p_worse, p_better), decision


def min_samples_for_median_bound(alpha: float) -> int:
    """The fewest samples whose extreme order statistic bounds the median at 1 - alpha."""
    return max(1, math.ceil(math.log2(1 / alpha)))


def median_bounds(values: ArrayLike, alpha: float) -> tuple[float, float] | None:
    """Exact, distribution-free one-sided 1 - alpha bounds of the median (order statistics).

    The k-th smallest value lies below the median with probability P(Binomial(n, 1/2) >= k);
    None when n is too small for any order statistic to reach 1 - alpha.
    """
    data = np.sort(as_array(values))
    n = data.size
    smallest = int(binom.ppf(alpha, n, 0.5))  # the smallest j with P(B <= j) >= alpha
    k = smallest + int(binom.cdf(smallest, n, 0.5) <= alpha)  # the largest k: P(B < k) <= alpha
    if k < 1:
        return None
    return float(data[k - 1]), float(data[n - k])


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


def ratio_of_medians(candidate: ArrayLike, reference: ArrayLike, alpha: float,
                     seed: int = 0) -> tuple[float, float, float] | None:
    """candidate / reference medians with a bootstrap 1 - 2 * alpha interval (None: ref <= 0)."""
    cand, ref = as_array(candidate), as_array(reference)
    ref_median = float(np.median(ref))
    if ref_median <= 0:
        return None
    rng = np.random.default_rng(seed)
    cand_m, ref_m = resampled_medians(cand, rng), resampled_medians(ref, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = cand_m / ref_m
    low, high = np.percentile(ratios[np.isfinite(ratios)], list(tails(alpha)))
    return float(np.median(cand)) / ref_median, float(low), float(high)
