"""Start storms against the fake driver: the config, the plan, one storm's samples, the
summary's per-N rows over storms, the memory pre-flight, and teardown whatever happens."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

import bench.storm
from bench.config import StormWorkload, parse_config
from bench.drivers import DriverRegistry
from bench.plan import Cell, make_plan
from bench.results.manifest import Manifest, RunConfig
from bench.results.run import load_run
from bench.results.summary import summary_rows
from bench.results.writer import RunWriter
from bench.runner import Runner
from bench.storm import Storm, check_storms, storm_samples
from bench.tick import TICK_S
from bench.workload.bundle import Bundle
from foundation.errors import ConfigError, InstanceError
from runtimes.base import Driver, ProbeCommand, RunContext
from runtimes.instance import Instance
from tests.unit.fake_driver import FakeDriver, FakeOptions


class SlowFake(FakeDriver):
    """Each launch takes a few ms (so storms have a spread), the instances named in `failing`
    fail, and every start records when it was asked for."""

    failing: ClassVar[set[int]] = set()
    asked: ClassVar[list[int]] = []

    def launch(self, instance: Instance[str], command: ProbeCommand) -> None:
        self.asked.append(time.monotonic_ns())
        time.sleep(0.002)
        if int(instance.name.rsplit("-", 1)[1]) in self.failing:
            raise InstanceError("fake launch failure")
        super().launch(instance, command)


class GuestFake(FakeDriver):
    """A fake whose every instance reserves a guest's RAM: 8 GiB."""

    @classmethod
    def reserved_memory(cls, options: FakeOptions) -> int | None:
        return 8 << 30


FAKES: dict[str, type[Driver[Any, Any]]] = {"fake": SlowFake, "guest": GuestFake}


REGISTRY = DriverRegistry(FAKES)  # beside the installed drivers


@pytest.fixture(autouse=True)
def fresh_fakes() -> None:
    SlowFake.failing, SlowFake.asked = set(), []
    FakeDriver.live.clear()


def storm_config(workload: dict[str, Any], reps: int = 2, **extra: Any) -> dict[str, Any]:
    return {"repetitions": reps, "warmup": 1, "settle": 0, "pause": 0, "cell_timeout": 5,
            "runtimes": {"process": {"driver": "fake"}, "box": {"driver": "fake"}},
            "workloads": {"storm": {"mode": "storm", **workload}}, **extra}


def storm_of(tmp_path: Path, count: int, **workload: Any) -> Storm:
    spec = StormWorkload.model_validate({"mode": "storm", **(workload or {"concurrency": [count]})})
    driver = SlowFake("box", FakeOptions(pss=1000), RunContext("r", tmp_path, tmp_path))
    return Storm(driver, spec, Cell(0, "box", "storm", 0, False, count), timeout=5)


def by_metric(samples: list[Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for sample in samples:
        found.setdefault(sample.metric, []).append(sample)
    return found


# --- the config and the plan ----------------------------------------------------------------

def test_a_rate_is_per_second_and_a_storm_is_bursts_or_a_rate() -> None:
    assert StormWorkload.model_validate({"mode": "storm", "rate": "20/s"}).rate == 20.0
    steady = StormWorkload.model_validate({"mode": "storm", "rate": "30/min", "duration": 8})
    assert steady.rate == 0.5 and steady.counts("any") == (4,)
    for wrong, words in (({}, "either concurrency"), ({"concurrency": [4], "rate": 2}, "either"),
                         ({"concurrency": [4, 1]}, "ascending"), ({"rate": "fast"}, "20/s"),
                         ({"rate": 2, "max_count": {"a": 1}}, "max_count caps bursts")):
        with pytest.raises(ConfigError, match=words):
            parse_config(storm_config(wrong), registry=REGISTRY)
    with pytest.raises(ConfigError, match=r"workloads.storm.runtimes: nope is not one"):
        parse_config(storm_config({"concurrency": [1], "runtimes": ["nope"]}), registry=REGISTRY)


def test_runtimes_interleave_at_each_n_and_a_warmup_runs_the_smallest() -> None:
    config = parse_config(storm_config({"concurrency": [1, 4, 16], "max_count": {"box": 4}}),
                          registry=REGISTRY)
    cells = [(c.repetition, c.count, c.runtime) for c in make_plan(config)]
    assert cells == [(-1, 1, "process"), (-1, 1, "box"),
                     (0, 1, "box"), (0, 1, "process"), (0, 4, "box"), (0, 4, "process"),
                     (0, 16, "process"),
                     (1, 1, "process"), (1, 1, "box"), (1, 4, "process"), (1, 4, "box"),
                     (1, 16, "process")]
    assert make_plan(config)[2].key == "box/storm@1/0"


# --- one storm --------------------------------------------------------------------------------

def test_a_burst_keeps_every_instance_and_its_figures(tmp_path: Path) -> None:
    storm = storm_of(tmp_path, 8)
    samples, problem = storm_samples(storm.driver, storm.workload, storm.cell, timeout=5)
    assert problem is None
    found = by_metric(samples)
    ready = found["storm.ready"]
    assert len(ready) == 8 and all(s.status == "ok" and s.phase == "8" for s in ready)
    # every instance was asked for after the barrier let the storm go, not before
    assert all(s.metadata["asked_after_ms"] >= 0 for s in ready)
    values = sorted(s.value for s in ready)
    assert found["storm.max"][0].value == values[-1]
    assert values[0] <= found["storm.p50"][0].value <= found["storm.p99"][0].value <= values[-1]
    throughput = found["storm.throughput"][0]
    assert throughput.direction == "higher" and throughput.unit == "starts/s"
    slowest_ready_s = max(s.metadata["ready_after_ms"] for s in ready) / 1e3
    assert throughput.value == pytest.approx(8 / slowest_ready_s)
    assert found["storm.failed"][0].value == 0
    assert found["storm.memory"][0].value == 8 * 1000  # every instance alive at once
    assert not FakeDriver.live  # all stopped


def test_failed_starts_are_rows_with_their_reason_never_numbers(tmp_path: Path) -> None:
    SlowFake.failing = {2, 5}
    storm = storm_of(tmp_path, 6)
    samples, problem = storm_samples(storm.driver, storm.workload, storm.cell, timeout=5)
    found = by_metric(samples)
    failed = [s for s in found["storm.ready"] if s.status == "failed"]
    assert len(failed) == 2 and all(s.value is None and "fake launch failure" in str(s.reason)
                                    for s in failed)
    assert found["storm.failed"][0].value == 2
    assert problem is not None and problem.startswith("2 of 6 instances failed to start")
    assert found["storm.memory"][0].metadata["alive"] == 4
    assert not FakeDriver.live


def test_a_storm_where_nothing_starts_has_failed_figures(tmp_path: Path) -> None:
    SlowFake.failing = set(range(1, 4))
    storm = storm_of(tmp_path, 3)
    samples, problem = storm_samples(storm.driver, storm.workload, storm.cell, timeout=5)
    found = by_metric(samples)
    for metric in ("storm.p50", "storm.p99", "storm.throughput"):
        assert found[metric][0].status == "failed"
    assert "storm.memory" not in found and problem is not None


def test_a_steady_rate_spaces_the_requests(tmp_path: Path) -> None:
    storm = storm_of(tmp_path, 5, rate="50/s", duration=0.1)
    samples, _ = storm_samples(storm.driver, storm.workload, storm.cell, timeout=5)
    asked = sorted(s.metadata["asked_after_ms"] for s in by_metric(samples)["storm.ready"])
    for index, after in enumerate(asked):  # the i-th is asked for no earlier than i / rate
        assert after >= index * 20.0
    assert asked[-1] < 80.0 + 500  # and not long after (a loaded test host)


def test_a_steady_rates_arrivals_each_fall_at_a_random_phase_of_the_tick(tmp_path: Path) -> None:
    """The i-th arrival is due at i / rate and a part of one tick drawn uniformly (bench/tick.py):
    at 20/s the spacing is 12.5 ticks at HZ=250, and without the draw every arrival would fall
    at one of two phases. A burst's arrivals are all due at the storm's start."""
    storm = storm_of(tmp_path, 400, rate="20/s", duration=20)
    late = [a.due_ns / 1e9 - a.index / 20 for a in storm.arrivals]
    assert all(0 <= extra <= TICK_S for extra in late)
    assert max(late) - min(late) > 0.9 * TICK_S  # the whole tick, not a fixed offset
    assert {a.due_ns for a in storm_of(tmp_path, 8).arrivals} == {0}


def test_an_interrupted_storm_stops_every_instance_it_started(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    storm = storm_of(tmp_path, 6)
    real = SlowFake.launch
    calls = iter(range(100))
    lock = threading.Lock()

    def launch(self: SlowFake, instance: Instance[str], command: ProbeCommand) -> None:
        with lock:
            call = next(calls)
        if call == 3:
            raise KeyboardInterrupt  # as a signal would, mid-storm
        real(self, instance, command)

    monkeypatch.setattr(SlowFake, "launch", launch)
    with pytest.raises(KeyboardInterrupt):
        storm_samples(storm.driver, storm.workload, storm.cell, timeout=5)
    assert not FakeDriver.live


# --- the run, the summary, the pre-flight -------------------------------------------------

def test_summary_rows_are_per_n_over_storms(tmp_path: Path) -> None:
    config = parse_config(storm_config({"concurrency": [1, 3]}, reps=6, baseline="process"),
                          registry=REGISTRY)
    store = RunWriter.create(tmp_path / "r", Manifest(config=RunConfig(config.model_dump(mode="json"))))
    failed = Runner(config, store, Bundle(probe=tmp_path / "p", digest="0"), "abc",
                    tmp_path, registry=REGISTRY).run(make_plan(config), lambda c, e: None, lambda n: None)
    store.close()
    assert failed == 0
    rows = {(r["runtime"], r["metric"], r.get("count")): r for r in summary_rows(load_run(tmp_path / "r"))}
    p99 = rows[("box", "storm.p99", 3)]
    assert p99["n"] == 6 and p99["samples"] == 6  # one p99 per storm
    assert p99["ci_low"] is not None and p99["ci_low"] <= p99["median"] <= p99["ci_high"]
    assert rows[("box", "storm.ready", 3)]["samples"] == 18  # every instance kept
    assert rows[("box", "storm.throughput", 1)]["direction"] == "higher"
    assert rows[("box", "storm.p50", 1)]["ratio"] is not None  # against process at the same N
    assert ("box", "storm.p99", None) not in rows  # never pooled over N


def test_a_storm_whose_guests_cannot_fit_is_refused_in_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.storm, "meminfo", lambda: {"MemAvailable": 20 << 30})
    document = storm_config({"concurrency": [1, 4]})
    document["runtimes"]["vm"] = {"driver": "guest"}
    with pytest.raises(ConfigError) as refused:
        check_storms(parse_config(document, registry=REGISTRY), "c.yaml", REGISTRY)
    assert str(refused.value) == (
        "c.yaml: workloads.storm: a storm of 4 vm instances reserves 32.0 GiB (8.00 GiB each), "
        "but the host has 20.0 GiB available and keeps 2.00 GiB free (min_available): at most 2 "
        "fit; "
        "set max_count.vm: 2 or lower the guests' memory")
    document["workloads"]["storm"]["max_count"] = {"vm": 2}
    # two fit: nothing to refuse
    check_storms(parse_config(document, registry=REGISTRY), "c.yaml", REGISTRY)
