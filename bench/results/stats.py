"""Statistics every reader shares: medians with bootstrap confidence intervals, rank tests.

Medians, never means alone: latency distributions are skewed and have outliers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

CONFIDENCE = 0.95
RESAMPLES = 2000
# Above this size the bootstrap's (resamples x n) array grows too large; the order-statistic
# interval used instead is distribution-free and agrees with the bootstrap for large n.
BOOTSTRAP_LIMIT = 5000


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p90: float
    p99: float
    mean: float
    ci_low: float
    ci_high: float


def median_ci(values: ArrayLike, seed: int = 0) -> tuple[float, float]:
    """95 % confidence interval of the median."""
    data = np.sort(np.asarray(values, dtype=float))
    n = data.size
    if n == 1:
        return float(data[0]), float(data[0])
    if n > BOOTSTRAP_LIMIT:
        half = 1.959963984540054 * np.sqrt(n) / 2
        low, high = int(np.floor(n / 2 - half)), int(np.ceil(n / 2 + half))
        return float(data[max(low, 0)]), float(data[min(high, n - 1)])
    rng = np.random.default_rng(seed)
    medians = np.median(data[rng.integers(0, n, size=(RESAMPLES, n))], axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low_q, high_q = np.percentile(medians, [tail, 100 - tail])
    return float(low_q), float(high_q)


def summarize(values: ArrayLike) -> Summary:
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no samples to summarize")
    low, high = median_ci(data)
    p90, p99 = np.percentile(data, [90, 99])
    return Summary(int(data.size), float(np.median(data)), float(p90), float(p99),
                   float(data.mean()), low, high)


def ratio_ci(candidate: ArrayLike, baseline: ArrayLike, seed: int = 0) -> tuple[float, float, float]:
    """Ratio of medians (candidate / baseline) with a bootstrap 95 % interval."""
    cand = np.asarray(candidate, dtype=float)
    base = np.asarray(baseline, dtype=float)
    point = float(np.median(cand) / np.median(base))
    rng = np.random.default_rng(seed)
    cand_m = _resampled_medians(cand, rng)
    base_m = _resampled_medians(base, rng)
    ratios = cand_m / base_m
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(ratios[np.isfinite(ratios)], [tail, 100 - tail])
    return point, float(low), float(high)


def _resampled_medians(data: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    size = min(data.size, BOOTSTRAP_LIMIT)
    picks = rng.integers(0, data.size, size=(RESAMPLES, size))
    result: NDArray[np.float64] = np.median(data[picks], axis=1)
    return result
