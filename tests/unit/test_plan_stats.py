"""The plan's interleaving and the statistics every reader shares."""

from __future__ import annotations

import numpy as np

from bench.config import parse_config
from bench.plan import make_plan
from bench.results.stats import median_ci, ratio_ci, summarize


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


def test_median_ci_contains_true_median_most_of_the_time() -> None:
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(200):
        low, high = median_ci(rng.normal(100, 10, size=40), seed=int(rng.integers(1 << 30)))
        hits += low <= 100 <= high
    assert 180 <= hits <= 200  # nominal 95 %


def test_large_samples_use_order_statistics() -> None:
    data = np.random.default_rng(2).exponential(1.0, size=200_000)
    low, high = median_ci(data)
    assert low < np.log(2) < high
    assert high - low < 0.02


def test_summarize_fields() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (s.n, s.median, s.mean) == (5, 3.0, 22.0)
    assert s.ci_low <= s.median <= s.ci_high
    assert s.p90 > s.median


def test_ratio_ci() -> None:
    rng = np.random.default_rng(3)
    point, low, high = ratio_ci(rng.normal(200, 5, 50), rng.normal(100, 5, 50))
    assert low < point < high
    assert 1.9 < point < 2.1
