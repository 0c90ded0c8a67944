"""The gate's statistics on synthetic samples, with fixed seeds: error rates, power, bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.gate.correction import finish
from bench.gate.evaluate import evaluate_relative
from bench.gate.rules import GateConfig, RelativeRule
from bench.gate.significance import (
    holm,
    limit_decision,
    median_change,
    min_rank_p_value,
    one_sided_rank_p_values,
    rank_p_values,
    ratio_test,
    relative_decision,
    relative_test,
    sign_test,
    sitting_change,
)
from bench.gate.verdicts import Evaluation
from bench.results.estimates import (
    fair_coin_cdf,
    median_bounds,
    min_instances,
    order_rank,
    ratio_of_medians,
)
from bench.results.run import Series

TRIALS = 200
N = 30
NOISE = 0.05  # lognormal sigma: about 5 % spread, latency-like (skewed to the right)


def latencies(rng: np.random.Generator, scale: float = 1.0, n: int = N,
              noise: float = NOISE) -> np.ndarray:
    return 250.0 * scale * rng.lognormal(0.0, noise, size=n)


def relative_rule(baseline: np.ndarray | list[float], candidate: np.ndarray | list[float], *,
                  percent: float, floor: float = 0.0, alpha: float = 0.01,
                  lower_is_better: bool = True) -> Evaluation:
    """The relative rule on two samples alone, as the gate decides a row: evaluate_relative,
    then the correction (over one row it changes no p-value)."""
    direction = "lower" if lower_is_better else "higher"

    def series(values: np.ndarray | list[float]) -> Series:
        return Series("ns", instances=np.asarray(values, dtype=float), direction=direction)

    rule = RelativeRule(kind="relative", metric="syscall.getppid", percent=percent, floor=floor)
    item = evaluate_relative(rule, ("process", "idle", "syscall.getppid"), series(baseline),
                             series(candidate), "the baseline", GateConfig(alpha=alpha))
    (evaluation,), _ = finish([item])
    return evaluation


def verdicts(shift: float, seed: int) -> list[str]:
    """The relative rule (10 %, alpha 0.01) on TRIALS pairs, the candidate scaled by 1 + shift."""
    rng = np.random.default_rng(seed)
    found: list[str] = []
    for _ in range(TRIALS):
        found.append(relative_rule(latencies(rng), latencies(rng, 1 + shift), percent=10,
                                   alpha=0.01).verdict)
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
    row = relative_rule(latencies(rng, n=400), latencies(rng, 1.03, 400), percent=10, alpha=0.01)
    assert row.p_value is not None and row.p_value < 1e-6
    assert row.change_high is not None and row.change_high < 0.10
    assert row.verdict == "pass" and "threshold" in row.message


def test_the_floor_keeps_tiny_changes_from_failing() -> None:
    rng = np.random.default_rng(15)
    base = 30.0 * rng.lognormal(0, 0.02, size=60)  # a vDSO call: 30 ns
    row = relative_rule(base, base * 1.2, percent=10, floor=10.0, alpha=0.01)
    assert row.change == pytest.approx(0.2)
    assert row.verdict == "pass" and "floor" in row.message
    assert relative_rule(base, base * 1.2, percent=10, floor=1.0, alpha=0.01).verdict == "fail"


def test_higher_is_better_mirrors_the_rule() -> None:
    rng = np.random.default_rng(16)
    base = latencies(rng)
    worse = relative_rule(base, base * 0.8, percent=10, lower_is_better=False)
    better = relative_rule(base, base * 1.25, percent=10, lower_is_better=False)
    assert (worse.verdict, better.verdict) == ("fail", "improved")


def test_too_few_samples_are_underpowered_not_passed_silently() -> None:
    assert min_rank_p_value(5, 5) == pytest.approx(2 / math.comb(10, 5))
    assert min_rank_p_value(4, 4) > 0.01 > min_rank_p_value(5, 5)
    few = relative_rule([1.0, 1.1, 1.2, 1.05], [9.0, 9.5, 9.9, 9.1], percent=10)
    assert few.verdict == "underpowered"
    five = relative_rule([1.0, 1.1, 1.2, 1.05, 1.15], [9.0, 9.5, 9.9, 9.1, 9.3], percent=10)
    assert five.verdict == "fail"  # complete separation of 5 and 5: p = 0.0079


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
    assert min_instances(1 - 2 * 0.01) == 7  # the gate's one-sided bound at alpha 0.01
    rng = np.random.default_rng(18)
    above = below = 0
    for _ in range(2000):
        bounds = median_bounds(rng.lognormal(0.0, 0.3, size=25), 0.05)  # true median: 1
        assert bounds is not None
        above += bounds[0] > 1
        below += bounds[1] < 1
    assert above <= 0.05 * 2000 and below <= 0.05 * 2000


def test_rank_p_values_are_scipys() -> None:
    """The gate's own Mann-Whitney U gives scipy's p-values, exact and asymptotic, with and
    without ties, on both sides."""
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(31)
    for n1, n2 in [(1, 1), (2, 5), (6, 6), (8, 30), (12, 3), (9, 9), (12, 12), (40, 25)]:
        for tied in (False, True):
            for _ in range(5):
                first, second = rng.normal(0, 1, n1), rng.normal(0.4, 1, n2)
                if tied:
                    first, second = np.round(first), np.round(second)
                ours = one_sided_rank_p_values(first, second)
                theirs = (mannwhitneyu(first, second, alternative="greater").pvalue,
                          mannwhitneyu(first, second, alternative="less").pvalue)
                assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-15), (n1, n2, tied)


def test_students_t_and_the_fair_coin_are_scipys() -> None:
    from scipy.stats import binom
    from scipy.stats import t as student_t

    for n in (1, 5, 12, 40, 200):
        for k in range(-1, n + 1):
            assert fair_coin_cdf(k, n) == pytest.approx(float(binom.cdf(k, n, 0.5)), rel=1e-12)
    values = [1.0] * 7 + [2.0] * 5  # 5 of 12 above 1.5: P(B >= 5)
    assert sign_test(values, 1.5) == pytest.approx(float(binom.sf(4, 12, 0.5)), rel=1e-12)
    low, high, worse, better = sitting_change([100.0], [110.0], 0.01, 0.03, 11,
                                              two_sided=False) or (0, 0, 0, 0)
    t = math.log(1.1) / (0.03 * math.sqrt(2))
    assert worse == pytest.approx(float(student_t.sf(t, 11)), rel=1e-9)
    assert better == pytest.approx(float(student_t.cdf(t, 11)), rel=1e-9)
    reach = float(student_t.isf(0.01, 11)) * 0.03 * math.sqrt(2)
    assert (low, high) == pytest.approx((math.expm1(math.log(1.1) - reach),
                                         math.expm1(math.log(1.1) + reach)), rel=1e-9)


def test_order_ranks_are_the_binomial_quantiles() -> None:
    """The integer computation agrees with scipy's binomial wherever scipy's floats are exact
    enough to decide (away from tail = 1/2, where P(B <= j) hits the tail exactly)."""
    from scipy.stats import binom

    for n in range(1, 300):
        for tail in (0.0005, 0.005, 0.0125, 0.025, 0.05):
            smallest = int(binom.ppf(tail, n, 0.5))
            assert order_rank(n, tail) == smallest + int(binom.cdf(smallest, n, 0.5) <= tail)


def test_ratio_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(19)
    misses = 0
    for _ in range(100):
        ratio = ratio_of_medians(latencies(rng, 1.3), latencies(rng), confidence=0.95)
        assert ratio is not None and ratio.low is not None and ratio.high is not None
        misses += not ratio.low <= 1.3 <= ratio.high
        assert ratio.low <= ratio.point <= ratio.high
    assert misses <= 12  # nominal 5 %
    assert ratio_of_medians([1.0, 2.0], [0.0, 0.0]) is None


def test_the_ratio_rule_p_value_inverts_the_interval_it_shows() -> None:
    rng = np.random.default_rng(20)
    cand, ref = latencies(rng, 1.6, n=12), latencies(rng, n=12)
    tested = ratio_test(cand, ref, 1.5, alpha=0.01)
    assert tested is not None
    shown, p_value = tested
    assert shown.low is not None
    assert (shown.low > 1.5) == (p_value <= 0.01)  # the bound beyond the limit iff p <= alpha
    near = ratio_test(latencies(rng, 1.5, n=12), ref, 1.5, alpha=0.01)
    assert near is not None and near[1] > 0.01


def test_the_sign_test_and_the_order_statistic_bound_are_one_test() -> None:
    rng = np.random.default_rng(21)
    for _ in range(50):
        values = rng.lognormal(0.0, 0.2, size=int(rng.integers(7, 30)))
        limit = float(rng.uniform(0.8, 1.2))
        bounds = median_bounds(values, 0.01)
        assert bounds is not None
        assert (bounds[0] > limit) == (sign_test(values, limit) <= 0.01)


def test_fast_rank_p_values_are_scipys() -> None:
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(22)
    for n1, n2, digits in ((12, 12, 6), (9, 30, 1), (40, 11, 0), (5, 12, 6)):
        first, second = rng.normal(0, 1, n1).round(digits), rng.normal(0.4, 1, n2).round(digits)
        greater, less = one_sided_rank_p_values(first, second)
        assert greater == pytest.approx(mannwhitneyu(first, second, alternative="greater").pvalue)
        assert less == pytest.approx(mannwhitneyu(first, second, alternative="less").pvalue)


# --- the gate as a whole: many rows, and sittings ------------------------------------------

ROWS = 20
GATES = 60


def gate_fails(p_values: list[float], alpha: float = 0.01) -> bool:
    return any(p < alpha for p in holm(p_values))


def test_holm_adjusts_like_the_textbook() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5]


def test_holm_keeps_identical_code_from_failing_a_gate_of_many_rows() -> None:
    """FWER on simulated A/A data, one sitting: ROWS independent rows of identical instances.
    Uncorrected, about 1 - 0.99^ROWS of the gates would have a row under alpha."""
    rng = np.random.default_rng(23)
    corrected = uncorrected = 0
    for _ in range(GATES):
        worse = [rank_p_values(latencies(rng, n=12), latencies(rng, n=12))[0] for _ in range(ROWS)]
        corrected += gate_fails(worse)
        uncorrected += any(p < 0.01 for p in worse)
    assert corrected <= 2  # expected at most 0.01 * GATES = 0.6
    assert uncorrected > corrected


def sitting(rng: np.random.Generator, spread: float, n: int = 12) -> np.ndarray:
    """One sitting of a row: every instance shares the sitting's shift (load, caches)."""
    return latencies(rng, float(np.exp(rng.normal(0.0, spread))), n=n, noise=0.03)


def test_a_calibrated_gate_passes_identical_code_between_sittings() -> None:
    """Sittings move a row by 10 % while its instances agree to 3 %: a rank test between two
    sittings fails most gates; with the spread calibrated from ten A/A sittings and both
    tests required, at most about alpha of the gates fail."""
    rng = np.random.default_rng(24)
    spread, calibrating = 0.10, 10
    calibrated_fails = rank_only_fails = 0
    gates = GATES // 3
    for _ in range(gates):
        worse_calibrated, worse_rank = [], []
        for _ in range(ROWS):
            past = [np.median(sitting(rng, spread)) for _ in range(calibrating)]
            sd = float(np.std(np.log(past), ddof=1))
            base, cand = sitting(rng, spread), sitting(rng, spread)
            tested = relative_test(base, cand, sitting=(sd, calibrating - 1))
            worse_calibrated.append(tested.p_worse)
            worse_rank.append(rank_p_values(base, cand)[0])
        calibrated_fails += gate_fails(worse_calibrated)
        rank_only_fails += gate_fails(worse_rank)
    assert calibrated_fails <= 1
    assert rank_only_fails >= gates // 2


def test_a_calibrated_gate_still_catches_a_change_well_beyond_the_sittings_spread() -> None:
    rng = np.random.default_rng(25)
    caught = 0
    for _ in range(40):
        past = [np.median(sitting(rng, 0.03)) for _ in range(12)]
        sd = float(np.std(np.log(past), ddof=1))
        base = sitting(rng, 0.03)
        cand = sitting(rng, 0.03) * 1.5
        tested = relative_test(base, cand, sitting=(sd, 11))
        p_gate = min(1.0, ROWS * tested.p_worse)  # Holm's worst case for the one changed row
        caught += relative_decision(tested.change, p_gate, 1.0, percent=10, floor=0,
                                    alpha=0.01).verdict == "fail"
    assert caught >= 36


def test_between_sittings_the_calibrated_test_alone_decides() -> None:
    """Instances on two discrete levels (this host's getppid: about 212 and 290 ns) overlap a
    20 % step, so the rank test on 12 instances cannot see it past Holm's correction; the
    sittings' medians move by 2 %, and the calibrated test on them sees it at once."""
    levels = np.array([212.0] * 3 + [290.0] * 9)
    rng = np.random.default_rng(26)
    base = levels * rng.lognormal(0, 0.01, 12)
    cand = np.array([212.0] * 4 + [290.0] * 8) * 1.2 * rng.lognormal(0, 0.01, 12)
    rank_worse = rank_p_values(base, cand)[0]
    tested = relative_test(base, cand, sitting=(0.02, 11))
    assert ROWS * rank_worse > 0.01  # the rank test alone: no fail after the correction
    assert ROWS * tested.p_worse < 0.01  # the calibrated test: a fail
    assert tested.p_worse == sitting_change(base, cand, 0.01, 0.02, 11)[2]


def test_the_sitting_test_is_student_t() -> None:
    low, high, worse, better = sitting_change([100.0] * 3, [110.0] * 3, 0.01, sd=0.05, dof=9)
    scale = 0.05 * np.sqrt(2)
    from scipy.stats import t

    assert worse == pytest.approx(2 * t.sf(np.log(1.1) / scale, 9))
    assert better == pytest.approx(min(1.0, 2 * t.cdf(np.log(1.1) / scale, 9)))
    assert low < 0.1 < high
    assert sitting_change([1.0, 2.0], [0.0, -1.0], 0.01, sd=0.1, dof=5) is None


@pytest.mark.parametrize(("low", "point", "high", "verdict"), [
    (1.6, 1.7, 1.8, "fail"),  # the whole interval beyond the limit
    (1.4, 1.55, 1.7, "warn"),  # the point beyond, the interval reaches back
    (1.2, 1.3, 1.6, "pass"),
])
def test_limit_decision(low: float, point: float, high: float, verdict: str) -> None:
    assert limit_decision(low, point, high, 1.5).verdict == verdict
    mirrored = limit_decision(-high, -point, -low, -1.5, lower_is_better=False)
    assert mirrored.verdict == verdict
