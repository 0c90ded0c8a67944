"""The density ladder against the fake driver: counts, caps, the floor, and teardown."""

from __future__ import annotations

import pytest

from bench.config import DensityWorkload, parse_config
from bench.density import DensityRun
from bench.errors import ConfigError
from bench.plan import Cell
from runtimes.base import RunContext
from tests.unit.fake_driver import FakeDriver, FakeOptions


def ladder(tmp_path: object, **options: object) -> DensityRun:
    workload = DensityWorkload(mode="density", counts=(1, 3, 6), concurrency=2, settle=0,
                               drop_caches=False, **options)  # type: ignore[arg-type]
    driver = FakeDriver("box", FakeOptions(pss=1000), RunContext("r", tmp_path, tmp_path))
    return DensityRun(driver, workload, Cell(0, "box", "density", 0, False), timeout=5)


def test_ladder_records_every_count_and_stops_everything(tmp_path: object) -> None:
    run = ladder(tmp_path)
    try:
        samples = run.run()
    finally:
        run.close()
    by_metric: dict[str, list[tuple[str | None, float | None]]] = {}
    for s in samples:
        by_metric.setdefault(s.metric, []).append((s.phase, s.value))
    assert by_metric["density.pss_per_instance"] == [("1", 1000), ("3", 1000), ("6", 1000)]
    assert [p for p, _ in by_metric["density.boot_total"]] == ["1", "3", "6"]
    assert "density.mem_available_per_instance" in by_metric
    assert "density.cgroup_per_instance" not in by_metric  # the fake has no cgroup: no number
    assert not FakeDriver.live


def test_cap_and_floor(tmp_path: object) -> None:
    capped = ladder(tmp_path, max_count={"box": 3})
    assert capped.counts() == [1, 3]
    floor = ladder(tmp_path, min_available=1 << 60)
    try:
        samples = floor.run()
    finally:
        floor.close()
    assert [s.status for s in samples] == ["failed"]
    assert samples[0].reason is not None and "under the floor" in samples[0].reason
    assert not FakeDriver.live


def test_counts_must_ascend() -> None:
    with pytest.raises(ConfigError, match="workloads.d.counts: counts must be"):
        parse_config({"runtimes": {"p": {"driver": "process"}},
                      "workloads": {"d": {"mode": "density", "counts": [5, 1]}}})
