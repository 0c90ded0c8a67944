"""The density ladder against the fake driver: counts, caps, the floor, and teardown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import density
from bench.config import DensityWorkload, parse_config
from bench.density import DensityRun
from bench.plan import Cell
from bench.results.manifest import Manifest, RunConfig
from bench.results.sample import Sample
from bench.results.summary import summary_json
from bench.results.writer import RunWriter
from foundation.errors import ConfigError
from runtimes.base import MemoryReading, RunContext
from tests.unit.fake_driver import FakeDriver, FakeOptions


@pytest.fixture(autouse=True)
def no_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(density, "READING_GAP", 0.0)


def ladder(tmp_path: object, **options: object) -> DensityRun:
    workload = DensityWorkload(mode="density", counts=(1, 3, 6), concurrency=2, settle=0,
                               drop_caches=False, readings=3, **options)  # type: ignore[arg-type]
    driver = FakeDriver("box", FakeOptions(pss=1000), RunContext("r", tmp_path, tmp_path))
    return DensityRun(driver, workload, Cell(0, "box", "density", 0, False), timeout=5)


def test_ladder_records_every_count_and_stops_everything(tmp_path: object) -> None:
    run = ladder(tmp_path)
    samples = density.density_samples(run.driver, run.workload, run.cell, timeout=5)
    by_metric: dict[str, list[tuple[str | None, float | None]]] = {}
    for s in samples:
        by_metric.setdefault(s.metric, []).append((s.phase, s.value))
    # three readings at every N, each its own sample
    assert by_metric["density.pss_per_instance"] == [(n, 1000) for n in "111333666"]
    assert [s.metadata["reading"] for s in samples
            if s.metric == "density.pss_per_instance"] == [0, 1, 2] * 3
    assert [p for p, _ in by_metric["density.boot_total"]] == ["1", "3", "6"]
    available = [s for s in samples if s.metric == "density.mem_available_per_instance"]
    # each reading against the host before the ladder and after it
    assert [(s.phase, s.metadata["reading"], s.metadata["reference"]) for s in available] == [
        (n, r, ref) for n in "136" for r in range(3) for ref in ("before", "after")]
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


def test_a_reading_with_parts_the_driver_does_not_declare_stops_the_ladder(
        tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # the ladder reads memory as a cell does (bench.collectors.memory_reading): a driver bug
    # is the reason the ladder stopped, not a number
    run = ladder(tmp_path)
    monkeypatch.setattr(run.driver, "memory", lambda instance: MemoryReading(
        host_pss=1000, host_parts={"sentry": 1000}))
    try:
        samples = run.run()
    finally:
        run.close()
    assert [s.metric for s in samples] == ["density.stopped"]
    assert "reported memory parts ['sentry']" in str(samples[0].reason)
    assert not FakeDriver.live


def test_counts_must_ascend() -> None:
    with pytest.raises(ConfigError, match="workloads.d.counts: counts must be"):
        parse_config({"runtimes": {"p": {"driver": "process"}},
                      "workloads": {"d": {"mode": "density", "counts": [5, 1]}}})


def density_results(path: Path, readings: dict[int, list[float]], ladders: int = 1) -> Path:
    """A density run of one runtime: at each N, these MemAvailable readings per ladder."""
    store = RunWriter.create(path, Manifest(config=RunConfig({
        "runtimes": {"process": {"driver": "process"}},
        "workloads": {"density": {"mode": "density"}}})))
    for ladder_index in range(ladders):
        store.append([Sample("process", "density", "density.mem_available_per_instance",
                             value + ladder_index, ladder_index, "bytes", phase=str(count),
                             cell=ladder_index, metadata={"count": count, "reading": r})
                      for count, values in readings.items() for r, value in enumerate(values)])
    store.complete(0)
    store.close()
    return path


def test_density_rows_have_intervals_over_readings_and_flag_negative_memory(
        tmp_path: Path) -> None:
    mib = float(1 << 20)
    path = density_results(tmp_path / "d", {
        1: [-50 * mib, 20 * mib, -10 * mib, 5 * mib, 30 * mib, -40 * mib],  # host noise
        8: [1.0 * mib, 1.1 * mib, 0.9 * mib, 1.05 * mib, 0.95 * mib, 1.02 * mib]})
    rows = {r["count"]: r for r in summary_json(path)}
    noisy, steady = rows[1], rows[8]
    assert (steady["n"], steady["samples"]) == (1, 6)  # one ladder, six readings
    assert steady["ci_low"] == 0.9 * mib and steady["ci_high"] == 1.1 * mib
    assert "over the 6 readings of 1 ladder(s)" in steady["ci_note"]
    assert steady["caveat"] is None and steady["resolved"] is True
    assert steady["resolution"] is None
    # an interval reaching below zero is the host's noise: below resolution, not a number
    assert noisy["resolved"] is False and noisy["median"] is None and noisy["ci_low"] is None
    assert noisy["resolution"] == 50 * mib  # the interval's end farthest from zero
    assert noisy["caveat"].startswith("below resolution (\u00b1 50") and noisy["ci_note"]


def test_density_rows_without_enough_readings_have_no_interval(tmp_path: Path) -> None:
    path = density_results(tmp_path / "d", {1: [1.0, 2.0, 3.0]})
    (row,) = summary_json(path)
    assert row["ci_low"] is None and "1 ladder(s) of 3 reading(s)" in row["ci_note"]


def test_enough_ladders_are_the_unit(tmp_path: Path) -> None:
    path = density_results(tmp_path / "d", {4: [10.0, 11.0, 12.0]}, ladders=6)
    (row,) = summary_json(path)
    assert (row["n"], row["samples"]) == (6, 18)
    assert row["ci_note"] is None and row["median"] == 13.5  # ladders' medians 11 ... 16


def test_an_interval_wholly_below_zero_is_below_resolution_in_every_output(
        tmp_path: Path) -> None:
    """Issue 21: docker's figure at N=1 was -478 MB per instance with its whole interval below
    zero. Such a row measured the host's movement: it says so, with no number of its own."""
    from rich.console import Console

    from bench.results.summary import summary_table

    mib = float(1 << 20)
    path = density_results(tmp_path / "d", {1: [-300 * mib, -290 * mib, -310 * mib,
                                                -280 * mib, -305 * mib, -295 * mib]})
    (row,) = summary_json(path)
    assert row["resolved"] is False and row["median"] is None and row["ci_high"] is None
    assert row["resolution"] == pytest.approx(310 * mib)
    console = Console(width=200)
    with console.capture() as shown:
        console.print(summary_table([row], "summary"))
    assert "below resolution" in shown.get() and "-300" not in shown.get()


def test_boot_rows_have_no_resolution(tmp_path: Path) -> None:
    store = RunWriter.create(tmp_path / "d", Manifest(config=RunConfig({"runtimes": {}, "workloads": {}})))
    store.append([Sample("process", "density", "density.boot_total", 3.0 + r, 0, "ms", phase="1",
                         cell=0, metadata={"count": 1}) for r in range(6)])
    store.close()
    (row,) = summary_json(tmp_path / "d")
    assert (row["resolved"], row["resolution"], row["caveat"]) == (None, None, None)


class Host:
    """Scripted host readings: MemAvailable falls by 10 units per instance, the kernel's memory
    grows by 2, the engine's by 1, on top of the host's own movement (`drift` per reading),
    which is other work's anonymous memory."""

    def __init__(self, run: DensityRun, drift: int) -> None:
        self.run, self.drift, self.calls = run, drift, 0
        self.log: list[str] = []

    def read(self, drop_caches: bool, engine: tuple[str, ...],
             charged: int = 0) -> density.HostReading:
        self.calls += 1
        self.log.append(f"host {len(self.run.running)}")
        running = len(self.run.running)
        moved = self.drift * self.calls
        return density.HostReading(10_000 - 10 * running + moved, 3000 - moved, 500 + 2 * running,
                                   100 + running if engine else None, charged)


def test_every_host_reading_is_settled_and_taken_the_same_way(
        tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    run = ladder(tmp_path)
    host = Host(run, drift=0)
    monkeypatch.setattr(density, "host_reading", host.read)
    monkeypatch.setattr(density, "settle", lambda workload: host.log.append("settle"))
    monkeypatch.setattr(density.DensityRun, "__init__", lambda self, *a: None)
    monkeypatch.setattr(density, "DensityRun", lambda *a: run)
    samples = density.density_samples(run.driver, run.workload, run.cell, timeout=5)
    groups = " ".join(host.log).split("settle")[1:]
    # before the ladder, at N = 1, 3, 6, after it: each a settle, then three host readings
    assert [g.split() for g in groups] == [["host", str(n)] * 3 for n in (0, 1, 3, 6, 0)]
    figures = {(s.metric, s.phase, s.metadata["reference"]) for s in samples
               if s.metric.startswith(("density.mem_available", "density.kernel"))}
    assert len(figures) == 2 * 3 * 2
    for s in samples:
        if s.metric == "density.mem_available_per_instance":
            assert s.value == 10
        elif s.metric == "density.kernel_per_instance":
            assert s.value == 2
    assert not [s for s in samples if s.metric == "density.engine_pss_per_instance"]


def test_a_rung_reading_is_paired_with_the_same_reading_of_each_reference(
        tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading i at N against reading i before and after: the references' own movement shows
    in the spread of the rung's figures, and the engine's growth is read beside."""
    run = ladder(tmp_path)
    monkeypatch.setattr(type(run.driver), "engine_processes", ("fakeengine",))
    run.engine = ("fakeengine",)
    monkeypatch.setattr(density, "settle", lambda workload: None)
    host = Host(run, drift=-1)  # the host's own use grows by one unit per reading
    monkeypatch.setattr(density, "host_reading", host.read)
    before = density.reference_readings(run.workload, run.engine)
    try:
        run.run()
    finally:
        run.close()
    after = density.reference_readings(run.workload, run.engine)
    samples = run.host_samples(before, after)
    at_one = [(s.metadata["reading"], s.metadata["reference"], s.value) for s in samples
              if s.metric == "density.mem_available_per_instance" and s.phase == "1"]
    # rung reading i was call 4 + i; before reading i call 1 + i; after reading i call 13 + i
    assert at_one == [(i, ref, 10 + moved) for i in range(3)
                      for ref, moved in (("before", 3), ("after", -9))]
    engine = {s.value for s in samples if s.metric == "density.engine_pss_per_instance"}
    assert engine == {1.0}
    # the drift was other work's anonymous memory: taken out, the host's cost per instance is
    # the 10 units MemAvailable fell for it plus its charge (the fake's PSS, 1000), whichever
    # reference it is set against
    host = {s.value for s in samples if s.metric == "density.host_per_instance"}
    assert host == {1010.0}


def test_the_engine_is_read_by_its_process_names(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import psutil

    own = psutil.Process(os.getpid()).name()
    assert density.engine_pss(("no-such-daemon",)) is None  # absent: no reading, not 0
    found = density.engine_pss((own,))
    assert found is not None and found > 0
