"""Statistics every reader shares: per-instance summaries, exact median intervals, ratios, the
one bootstrap.

The unit of observation is the instance (one cell): batches inside one instance agree to a
few ns while instances differ by up to 30 %, so every interval here is computed over one
figure per instance (the median of its samples), never over pooled inner samples.

- The interval of a median is the exact, distribution-free order-statistic interval: the k-th
  smallest and k-th largest of n values, with P(Binomial(n, 1/2) < k) at most the tail. It
  holds whatever the distribution; at 95 % it needs n >= 6 (with 5 values even [min, max]
  covers only 93.75 %), and fewer instances get no interval and a note saying why.
- The interval of a ratio of medians joins the two medians' exact intervals on the log scale
  (each side's half-widths added in quadrature, the delta method). The exact intervals are
  conservative at small n, so the ratio's interval covers at least its nominal level in the
  simulations of tests/unit/test_plan_stats.py.
- The bootstrap (medians of resampled observations) serves the gate's intervals of changes.

Medians, never means alone: latency distributions are skewed and have outliers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

Floats = NDArray[np.float64]
CONFIDENCE = 0.95
RESAMPLES = 4000
# Above this size a resample is m-out-of-n (m = this): the (resamples x n) array stays small,
# and the interval is wider than n would allow, so it errs on the safe side.
BOOTSTRAP_LIMIT = 5000
LN2 = math.log(2.0)
# up to this many trials fair_coin_cdf sums exact integers (a few ms); floats beyond
EXACT_TRIALS = 2000


def as_array(values: ArrayLike) -> Floats:
    data: Floats = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no samples")
    return data


# --- exact intervals of a median ------------------------------------------------------------

def order_rank(n: int, tail: float) -> int:
    """The largest k with P(Binomial(n, 1/2) < k) <= tail; 0 when even k = 1 is too likely.

    The k-th smallest of n values lies above the median with probability P(B < k), so it is
    a one-sided 1 - tail lower bound of the median (and the k-th largest an upper bound).
    Linear at most: the search starts at the normal approximation's rank and moves a few
    ranks, each P(B <= j) summed in floats from about 4 sqrt(n) terms; a comparison closer
    than TIE_MARGIN to the tail is decided in exact integers, so the rank is the exact one.
    (The integer sums of every P(B <= j) took 106 s at n = 32,000.)
    """
    j = start_index(n, tail)  # the candidate for k - 1: P(B <= j) <= tail < P(B <= j + 1)
    while j >= 0 and not at_most(n, j, tail):
        j -= 1
    while j < n and at_most(n, j + 1, tail):
        j += 1
    return j + 1


# The float log of P(B <= j) is good to about 1e-9 (math.lgamma near 1e5, three times);
# closer to the tail's log than this, P(B <= j) <= tail is decided in exact integers.
TIE_MARGIN = 1e-6


def at_most(n: int, j: int, tail: float) -> bool:
    """Whether P(B <= j) <= tail, for 0 <= j <= n."""
    if tail <= 0:
        return False
    gap = log_lower_cdf(n, j) - math.log(tail)
    if abs(gap) > TIE_MARGIN:
        return gap < 0
    return exact_lower_sum(n, j) <= Fraction(tail) * (1 << n)


def exact_lower_sum(n: int, j: int) -> int:
    """The sum of C(n, i) for i <= j, in integers (2**n P(B <= j)): quadratic in big
    integers, so beyond EXACT_TRIALS only called to settle a near-tie."""
    if j < 0:
        return 0
    if 2 * j >= n:
        return (1 << n) - exact_lower_sum(n, n - j - 1)
    term = total = 1
    for i in range(1, j + 1):
        term = term * (n - i + 1) // i
        total += term
    return total


def start_index(n: int, tail: float) -> int:
    """Where P(B <= j) crosses the tail by the normal approximation: a few ranks off."""
    if not 0 < tail < 1:
        return -1 if tail <= 0 else n
    z = NormalDist().inv_cdf(tail)
    return min(n, max(-1, math.floor(n / 2 + z * math.sqrt(n) / 2)))


def log_lower_cdf(n: int, j: int) -> float:
    """log P(B <= j), no big integers: the log of the term at j (log-gamma) plus the log of
    the sum of the ratios of the terms below it to it, summed down until they no longer
    count (about 4 sqrt(n) terms at most); above the middle, through the other tail."""
    if j < 0:
        return -math.inf
    if j >= n:
        return 0.0
    if 2 * j > n:
        return math.log1p(-math.exp(log_lower_cdf(n, n - j - 1)))
    total = ratio = 1.0
    for i in range(j, 0, -1):
        ratio *= i / (n - i + 1)
        total += ratio
        if ratio < total * 1e-17:
            break
    log_term = math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) - n * LN2
    return log_term + math.log(total)


def fair_coin_cdf(k: int, n: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2): exact integer sums, rounded once, up to
    EXACT_TRIALS trials; floats good to about 1e-9 beyond (linear, not quadratic)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if n > EXACT_TRIALS:
        return math.exp(log_lower_cdf(n, k))
    return exact_lower_sum(n, k) / (1 << n)  # integer division rounds once, correctly


def min_instances(confidence: float = CONFIDENCE) -> int:
    """The fewest values whose extremes bound the median two-sided at `confidence`."""
    return max(1, math.ceil(math.log2(2 / (1 - confidence))))


def median_bounds(values: ArrayLike, tail: float) -> tuple[float, float] | None:
    """Exact, distribution-free one-sided 1 - tail bounds of the median (order statistics);
    None when n is too small for any order statistic to reach 1 - tail."""
    data = np.sort(as_array(values))
    k = order_rank(data.size, tail)
    if k < 1:
        return None
    return float(data[k - 1]), float(data[data.size - k])


def median_interval(values: ArrayLike,
                    confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The exact two-sided interval of the median at `confidence`, or None (too few values)."""
    return median_bounds(values, (1 - confidence) / 2)


def too_few(n: int, what: str = "instances", confidence: float = CONFIDENCE) -> str:
    return (f"{n} {what}: a {100 * confidence:g} % interval of a median needs at least "
            f"{min_instances(confidence)}")


# --- summaries ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """One row's figures over its instances (the summary contract's numeric fields)."""

    n: int  # instances
    samples: int  # inner samples (batches, readings) behind them
    median: float
    p90: float
    p99: float
    mean: float
    ci_low: float | None
    ci_high: float | None
    ci_note: str | None  # why there is no interval


def summarize(instances: ArrayLike, samples: int | None = None,
              confidence: float = CONFIDENCE) -> Summary:
    """Median, percentiles and mean of the per-instance figures, with the median's interval."""
    data = as_array(instances)
    interval = median_interval(data, confidence)
    p90, p99 = np.percentile(data, [90, 99])
    low, high = interval if interval else (None, None)
    note = None if interval else too_few(data.size, confidence=confidence)
    return Summary(int(data.size), int(data.size if samples is None else samples),
                   float(np.median(data)), float(p90), float(p99), float(data.mean()),
                   low, high, note)


@dataclass(frozen=True)
class Ratio:
    """median(candidate) / median(reference), with its interval or the reason it has none."""

    point: float
    low: float | None
    high: float | None
    note: str | None

    def bounds(self) -> tuple[float, float, float] | None:
        if self.low is None or self.high is None:
            return None
        return self.point, self.low, self.high


def ratio_of_medians(candidate: ArrayLike, reference: ArrayLike,
                     confidence: float = CONFIDENCE) -> Ratio | None:
    """The ratio of two groups' medians; None when the reference's median is not positive.

    The interval joins both medians' exact intervals on the log scale: the low end is the
    point times exp(-hypot(candidate's lower half-width, reference's upper half-width)).
    """
    cand, ref = as_array(candidate), as_array(reference)
    cand_median, ref_median = float(np.median(cand)), float(np.median(ref))
    if ref_median <= 0:
        return None
    point = cand_median / ref_median
    cand_iv, ref_iv = median_interval(cand, confidence), median_interval(ref, confidence)
    if cand_iv is None or ref_iv is None or cand_median <= 0 or min(*cand_iv, *ref_iv) <= 0:
        few = min(cand.size, ref.size)
        note = too_few(few, confidence=confidence) if few < min_instances(confidence) else \
            "a value is not positive: no interval of a ratio"
        return Ratio(point, None, None, note)
    below = math.hypot(math.log(cand_median / cand_iv[0]), math.log(ref_iv[1] / ref_median))
    above = math.hypot(math.log(cand_iv[1] / cand_median), math.log(ref_median / ref_iv[0]))
    return Ratio(point, point * math.exp(-below), point * math.exp(above), None)


# --- the bootstrap --------------------------------------------------------------------------

def resampled_medians(data: ArrayLike, rng: np.random.Generator,
                      resamples: int = RESAMPLES) -> Floats:
    """Medians of `resamples` resamples with replacement (m-out-of-n above BOOTSTRAP_LIMIT)."""
    values = as_array(data)
    size = min(values.size, BOOTSTRAP_LIMIT)
    drawn = np.sort(values[rng.integers(0, values.size, size=(resamples, size))], axis=1)
    half = size // 2  # sorting then picking is several times faster than np.median here
    medians: Floats = drawn[:, half] if size % 2 else (drawn[:, half - 1] + drawn[:, half]) / 2
    return medians


def percentile_interval(values: Floats, low_tail: float, high_tail: float) -> tuple[float, float]:
    """The percentile bootstrap interval: the tails' quantiles of the finite resampled values."""
    finite = values[np.isfinite(values)]
    low, high = np.percentile(finite, [100 * low_tail, 100 * (1 - high_tail)])
    return float(low), float(high)
