"""The plan's interleaving and the statistics every reader shares."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from bench.config import parse_config
from bench.plan import make_plan
from bench.results.estimates import (
    median_interval,
    min_instances,
    ratio_of_medians,
    resampled_medians,
    summarize,
)


def config(**extra: object) -> dict[str, object]:
    return {"runtimes": {"a": {"driver": "process"}, "b": {"driver": "process"},
                         "c": {"driver": "process"}},
            "workloads": {"w": {"mode": "ready"}}, **extra}


def test_plan_interleaves_and_rotates() -> None:
    cells = make_plan(parse_config(config(repetitions=3, warmup=1)))
    assert [c.runtime for c in cells] == list("abc" "bca" "cab" "abc")
    assert [c.warmup for c in cells[:3]] == [True] * 3
    assert not any(c.warmup for c in cells[3:])
    assert [c.index for c in cells] == list(range(len(cells)))


def test_per_runtime_repetitions() -> None:
    doc = config(repetitions=3, warmup=0)
    doc["runtimes"]["c"] = {"driver": "process", "repetitions": 1}  # type: ignore[index]
    doc["runtimes"]["b"] = {"driver": "process", "warmup": 2}  # type: ignore[index]
    cells = make_plan(parse_config(doc))
    assert sum(c.runtime == "c" for c in cells) == 1
    assert sum(c.runtime == "a" for c in cells) == 3
    assert sum(c.runtime == "b" and c.warmup for c in cells) == 2


# Instances land on discrete levels (this host: getppid near 162, 175 or 197 ns, whichever
# the instance drew) while the batches of one instance agree to a fraction of a percent.
LEVELS = np.array([162.0, 175.0, 197.0])
CHANCES = np.array([0.5, 0.3, 0.2])
BATCHES = 20


def instances(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    """n instances' batches: each instance a level, each batch that level within 0.3 %."""
    levels = scale * rng.choice(LEVELS, size=n, p=CHANCES)
    return levels[:, None] * rng.lognormal(0.0, 0.003, size=(n, BATCHES))


@functools.lru_cache
def population_median(scale: float = 1.0) -> float:
    # half the mass sits exactly on the lowest level, so the median is where the jitter puts
    # it: taken from a large sample rather than argued
    rng = np.random.default_rng(99)
    return float(np.median(np.median(instances(rng, 200_001, scale), axis=1)))


def test_the_interval_over_instances_covers_and_the_pooled_one_does_not() -> None:
    """The instance as the unit: summarise each instance, then the exact interval of the
    median covers at least 95 %; pooling batches as independent samples covers far less."""
    rng = np.random.default_rng(1)
    truth = population_median()
    per_instance = pooled = 0
    trials = 300
    for _ in range(trials):
        data = instances(rng, 6)
        interval = median_interval(np.median(data, axis=1))
        assert interval is not None
        per_instance += interval[0] <= truth <= interval[1]
        pooled_interval = median_interval(data.ravel())
        assert pooled_interval is not None
        pooled += pooled_interval[0] <= truth <= pooled_interval[1]
    assert per_instance >= 0.95 * trials
    assert pooled <= 0.80 * trials  # the defect issue 12 found: n = 120 "samples" of 6 instances


def test_fewer_than_six_instances_get_no_interval_and_say_why() -> None:
    assert min_instances() == 6
    assert median_interval(np.arange(5.0)) is None
    assert median_interval(np.arange(6.0)) == (0.0, 5.0)
    summary = summarize([3.0, 1.0, 2.0], samples=60)
    assert (summary.n, summary.samples, summary.median) == (3, 60, 2.0)
    assert summary.ci_low is None and summary.ci_high is None
    assert summary.ci_note is not None and "3 instances" in summary.ci_note and "6" in summary.ci_note


def test_summarize_fields() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0, 5.0, 6.0])
    assert (s.n, s.samples, s.median, s.mean) == (7, 7, 4.0, 121 / 7)
    assert s.ci_low is not None and s.ci_high is not None
    assert s.ci_low <= s.median <= s.ci_high and s.ci_note is None
    assert s.p90 > s.median


@pytest.mark.parametrize("n", [6, 12])
def test_ratio_interval_covers_the_true_ratio_of_instances(n: int) -> None:
    rng = np.random.default_rng(3 + n)
    truth = population_median(1.3) / population_median()
    hits, trials = 0, 300
    for _ in range(trials):
        ratio = ratio_of_medians(np.median(instances(rng, n, 1.3), axis=1),
                                 np.median(instances(rng, n), axis=1))
        assert ratio is not None and ratio.low is not None and ratio.high is not None
        assert ratio.low <= ratio.point <= ratio.high
        hits += ratio.low <= truth <= ratio.high
    assert hits >= 0.95 * trials


def test_ratio_without_enough_instances_has_a_point_and_a_reason() -> None:
    ratio = ratio_of_medians([2.0, 2.1, 1.9], np.arange(1.0, 8.0))
    assert ratio is not None and ratio.point == pytest.approx(0.5)
    assert ratio.low is None and ratio.note is not None and "3 instances" in ratio.note
    assert ratio_of_medians([1.0], [0.0, -1.0, 0.0]) is None  # no positive reference


def test_bootstrap_medians_are_the_medians_of_resamples() -> None:
    rng = np.random.default_rng(4)
    data = np.array([1.0, 2.0, 3.0, 10.0])
    medians = resampled_medians(data, rng, resamples=2000)
    assert set(np.unique(medians)) <= {1.0, 1.5, 2.0, 2.5, 3.0, 5.5, 6.0, 6.5, 10.0}
    # the median of four draws is 10 when at least three of them are 10
    assert abs(float(np.mean(medians == 10.0)) - (4 * 0.25 ** 3 * 0.75 + 0.25 ** 4)) < 0.01
