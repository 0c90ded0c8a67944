"""Noise on the record: the host's load and steal time around a cell, the noise sources
`bench doctor` lists, and pinning (CPU lists, a spawned child pinned from its start)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bench.host_noise import cell_noise, governor, host_load, smt, steal, turbo
from runtimes.host.pinning import parse_cpus, thread_pinned

STAT = """cpu  100 0 50 800 10 0 0 {steal} 0 0
cpu0 50 0 25 400 5 0 0 0 0 0
intr 1 2 3
procs_running {running}
procs_blocked 0
"""


def fake_proc(folder: Path, load: str, steal_ticks: int, running: int) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "loadavg").write_text(f"{load} 0.50 0.40 2/100 1234\n")
    (folder / "stat").write_text(STAT.format(steal=steal_ticks, running=running))
    return folder


def test_the_load_and_steal_around_a_cell(tmp_path: Path) -> None:
    before = host_load(fake_proc(tmp_path / "a", "0.75", 40, 3))
    assert (before.load1, before.running, before.steal, before.ticks) == (0.75, 3, 40, 1000)
    after = host_load(fake_proc(tmp_path / "b", "1.50", 90, 5))
    noise = cell_noise(before, after)
    assert noise == {"load_before": 0.75, "load_after": 1.5, "running_before": 3,
                     "running_after": 5, "steal_percent": 100.0}  # all 50 new ticks stolen


def test_steal_reads_zero_on_a_host_without_a_hypervisor(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, "0.10", 0, 1)
    (proc / "cpuinfo").write_text("processor: 0\nflags: fpu vme sse\n")
    source = steal(0.0, proc)
    assert source.ok and "no hypervisor flag" in source.detail


def cpu_tree(folder: Path, governors: list[str], siblings: list[str]) -> Path:
    for number, (gov, sib) in enumerate(zip(governors, siblings, strict=True)):
        cpu = folder / f"cpu{number}"
        (cpu / "cpufreq").mkdir(parents=True)
        (cpu / "topology").mkdir()
        (cpu / "cpufreq/scaling_governor").write_text(gov + "\n")
        (cpu / "topology/thread_siblings_list").write_text(sib + "\n")
    return folder


def test_doctor_names_a_governor_that_is_not_performance_and_smt_siblings(tmp_path: Path) -> None:
    tree = cpu_tree(tmp_path, ["powersave", "performance"], ["0,1", "0,1"])
    found = governor(tree)
    assert not found.ok and found.detail == "performance, powersave"
    assert "performance governor" in found.advice
    shared = smt(tree)
    assert not shared.ok and "0,1" in shared.detail and "pin instances" in shared.advice
    quiet = cpu_tree(tmp_path / "quiet", ["performance"], ["0"])
    assert governor(quiet).ok and smt(quiet).ok


def test_doctor_says_when_turbo_is_on(tmp_path: Path) -> None:
    (tmp_path / "intel_pstate").mkdir()
    (tmp_path / "intel_pstate/no_turbo").write_text("0\n")
    assert not turbo(tmp_path).ok and "no_turbo" in turbo(tmp_path).advice
    (tmp_path / "intel_pstate/no_turbo").write_text("1\n")
    assert turbo(tmp_path).ok


def test_cpu_lists() -> None:
    assert parse_cpus("0-2,5") == {0, 1, 2, 5}
    assert parse_cpus("3") == {3}
    for bad in ("", "1-", "a", "2-1", "0,,1"):
        with pytest.raises(ValueError):
            parse_cpus(bad)


def test_a_child_started_while_pinned_runs_pinned_and_the_caller_is_restored() -> None:
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    with thread_pinned(str(cpu)):
        child = subprocess.run(["grep", "Cpus_allowed_list", "/proc/self/status"],
                               capture_output=True, text=True, check=True, timeout=10)
    assert child.stdout.split()[-1] == str(cpu)
    assert os.sched_getaffinity(0) == before
