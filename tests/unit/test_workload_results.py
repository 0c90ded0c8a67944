"""Workload samples in the results: their direction reaches the summary and the gate (a drop
in throughput is a regression, a drop in duration is not), and a command workload's cell
keeps what it measured when its command or its output fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.collectors import command_samples
from bench.gate.evaluate import exit_code, gate_run
from bench.gate.rules import GateConfig, RelativeRule
from bench.plan import Cell
from bench.results.manifest import Manifest, RunConfig
from bench.results.sample import Sample
from bench.results.summary import summary_json
from bench.results.writer import RunWriter
from bench.workload.spec import CommandWorkload
from runtimes.base import Usage
from runtimes.instance import Instance

HOST = {"kernel": "6.1", "cpu_model": "cpu", "cgroup_version": "v1"}
METRICS = {"workload.events_per_s": ("events/s", "higher", 1000.0),
           "workload.duration": ("s", "lower", 10.0)}


def write_run(path: Path, scale: dict[str, float], seed: int) -> Path:
    """A synthetic results directory: 12 repetitions of a process runtime's cpu workload."""
    rng = np.random.default_rng(seed)
    config = {"runtimes": {"process": {"driver": "process"}},
              "workloads": {"cpu": {"mode": "command", "argv": ["sysbench"]}}}
    store = RunWriter.create(path, Manifest(run_id=path.name, config=RunConfig(config), host=HOST,
                                            drivers={"process": {"driver": "process"}}))
    for repetition in range(12):
        store.append(Sample("process", "cpu", metric, float(median * scale.get(metric, 1.0) *
                                                           rng.lognormal(0, 0.02)),
                            repetition, unit=unit, direction=direction, cell=repetition)
                     for metric, (unit, direction, median) in METRICS.items())
    store.complete(0)
    store.close()
    return path


RULES = GateConfig(rules=[RelativeRule(kind="relative", metric="workload.*", percent=10)])


def verdicts(tmp_path: Path, scale: dict[str, float]) -> dict[str, str]:
    baseline = write_run(tmp_path / "base", {}, seed=1)
    candidate = write_run(tmp_path / "cand", scale, seed=2)
    result = gate_run(candidate, baseline, RULES, uncalibrated=True)
    return {e.metric: e.verdict for e in result.evaluations} | {"exit": str(exit_code(result))}


def test_gate_fails_a_throughput_drop(tmp_path: Path) -> None:
    found = verdicts(tmp_path, {"workload.events_per_s": 0.8})
    assert found == {"workload.events_per_s": "fail", "workload.duration": "pass", "exit": "1"}


def test_gate_passes_a_duration_drop(tmp_path: Path) -> None:
    found = verdicts(tmp_path, {"workload.duration": 0.8})
    assert found == {"workload.events_per_s": "pass", "workload.duration": "improved", "exit": "0"}


def test_summary_rows_carry_direction(tmp_path: Path) -> None:
    rows = {r["metric"]: r for r in summary_json(write_run(tmp_path / "r", {}, seed=3))}
    assert rows["workload.events_per_s"]["direction"] == "higher"
    assert rows["workload.events_per_s"]["unit"] == "events/s"
    assert rows["workload.duration"]["direction"] == "lower"


class FakeDriver:
    """Only what command_samples asks of a driver."""

    kind = "fake"

    def __init__(self) -> None:
        self.readings = [Usage(cpu_ns=0, cpu_resolution_ns=1),
                         Usage(cpu_ns=3_000_000_000, cpu_resolution_ns=1, peak_bytes=4096,
                               peak_source="test")]

    def usage(self, instance: object) -> Usage:
        return self.readings.pop(0)


def instance_with(lines: list[str]) -> Instance[None]:
    instance: Instance[None] = Instance("bench-x-fake-1", 0)
    for stamp, line in enumerate(["BENCH-READY command", *lines], start=1):
        instance.output.feed(f"{line}\n".encode(), stamp * 1_000_000)
    instance.mark("ready", 1_000_000)
    return instance


REPORT = ("BENCH-COMMAND status={status} signal=0 stopped=0 wall_ns=2000000000 user_ns=1 sys_ns=1 "
          "maxrss_kb=100 all_user_ns=1500000000 all_sys_ns=500000000 all_maxrss_kb=200")
CELL = Cell(0, "fake", "cpu", 0, False)
CPU = CommandWorkload(mode="command", argv=("sysbench",), parser="sysbench-cpu")


def measure(lines: list[str]) -> tuple[list[Sample], str | None]:
    return command_samples(CELL, FakeDriver(), instance_with(lines), CPU, 10**18)  # type: ignore[arg-type]


def test_command_samples() -> None:
    samples, problem = measure(["BENCH-STARTED", "BENCH-OUT     events per second:  812.50",
                                "BENCH-EXITED", REPORT.format(status=0), "BENCH-DONE 0"])
    assert problem is None
    found = {s.metric: (s.value, s.unit, s.direction) for s in samples}
    assert found["workload.events_per_s"] == (812.5, "events/s", "higher")
    assert found["workload.duration"] == (2.0, "s", "lower")
    assert found["workload.duration_host"] == (0.002, "s", "lower")  # stamps 2 ms apart
    assert found["cpu.host_per_guest"] == (1.5, "ratio", "lower")  # 3 s host over 2 s inside
    assert found["memory.peak"][0] == 4096 and found["memory.peak_rss"][0] == 200 * 1024


def test_unreadable_output_fails_the_cell_with_its_tail() -> None:
    samples, problem = measure(["BENCH-STARTED", "BENCH-ERR FATAL: no such test", "BENCH-EXITED",
                                REPORT.format(status=0), "BENCH-DONE 0"])
    assert problem is not None and "sysbench-cpu output unreadable" in problem
    assert "FATAL: no such test" in problem
    failed = [s for s in samples if s.status == "failed"]
    assert [(s.metric, s.unit, s.direction) for s in failed] == [
        ("workload.events_per_s", "events/s", "higher")]
    assert any(s.metric == "cpu.host_per_guest" for s in samples)  # what held is kept


def test_a_failed_command_is_not_a_measurement() -> None:
    samples, problem = measure(["BENCH-STARTED", "BENCH-ERR oops", "BENCH-EXITED",
                                REPORT.format(status=3), "BENCH-DONE 3"])
    assert problem is not None and problem.startswith("the command exited with status 3")
    assert not any(s.metric.startswith("workload.") and s.status == "ok" for s in samples)


def test_report_has_a_workloads_section(tmp_path: Path) -> None:
    from reports.html import write_report

    path = tmp_path / "run"
    config = {"runtimes": {"process": {"driver": "process"},
                           "libvirt": {"driver": "libvirt", "repetitions": 2}},
              "workloads": {"cpu": {"mode": "command", "argv": ["sysbench", "cpu", "run"],
                                    "overrides": {"libvirt": {"argv": ["sysbench", "short"]}}}}}
    store = RunWriter.create(path, Manifest(run_id="r", config=RunConfig(config), host=HOST, drivers={
        "process": {"driver": "process", "scratch": "a host directory", "scratch_dir": "/x",
                    "scratch_fs": "ext4 on /dev/vda"},
        "libvirt": {"driver": "libvirt", "accel": "tcg"}}))
    for repetition in range(6):
        for runtime, median in (("process", 1000.0), ("libvirt", 40.0)):
            store.append([Sample(runtime, "cpu", "workload.events_per_s", median + repetition,
                                 repetition, unit="events/s", direction="higher",
                                 cell=repetition * 2 + (runtime == "libvirt"))])
    store.complete(0)
    store.close()
    page = write_report([path], tmp_path / "report.html").read_text()
    section = page[page.index('id="workloads"'):]
    assert "Workloads: your programs in every runtime" in section
    assert "workload.events_per_s" in section and "higher" in section
    assert '<span class="worse">0.04' in section  # a throughput ratio below 1 is a cost
    assert "libvirt ran 2 repetitions" in section and "sysbench short" in section
    assert "ext4 on /dev/vda" in section and "A TCG guest is many times slower" in section


def test_a_value_the_results_refuse_fails_the_cell_with_the_reason() -> None:
    """sysbench printing a 400-digit rate (inf as a float) used to end the run in a traceback;
    now the cell fails saying why, and what held (usage, peak memory) is kept."""
    samples, problem = measure(["BENCH-STARTED", f"BENCH-OUT events per second: {'9' * 400}",
                                "BENCH-EXITED", REPORT.format(status=0), "BENCH-DONE 0"])
    assert problem is not None and "events per second' line is not a number" in problem
    assert [s.metric for s in samples if s.status == "failed"] == ["workload.events_per_s"]
    assert any(s.metric == "memory.peak" and s.status == "ok" for s in samples)
