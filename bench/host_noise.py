"""What else the host was doing: load and steal time around each cell, and the noise sources
`bench doctor` can see (frequency governor, turbo, SMT siblings, busy processes, steal).

A figure measured while the host's load changed is not comparable with one measured before
it; the runner records the load and steal time before and after every cell (cells.jsonl),
so a report can say when they moved enough to matter.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results.recorded_noise import LOAD_CHANGE_PER_CORE, STEAL_PERCENT

PROC = Path("/proc")
CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class HostLoad:
    """A reading of the host's load: the 1-minute load average, the tasks runnable right now,
    and the cumulative CPU ticks (all CPUs) with the part stolen by a hypervisor."""

    load1: float
    running: int
    ticks: int
    steal: int


def host_load(proc: Path = PROC) -> HostLoad:
    load1 = float((proc / "loadavg").read_text().split()[0])
    running, ticks, steal = 0, 0, 0
    for line in (proc / "stat").read_text().splitlines():
        fields = line.split()
        if fields[0] == "cpu":
            values = [int(v) for v in fields[1:]]
            # user nice system idle iowait irq softirq steal (guest time is inside user)
            ticks, steal = sum(values[:8]), values[7] if len(values) > 7 else 0
        elif fields[0] == "procs_running":
            running = int(fields[1])
    return HostLoad(load1, running, ticks, steal)


def cell_noise(before: HostLoad, after: HostLoad) -> dict[str, Any]:
    """What cells.jsonl records of a cell's surroundings."""
    ticks = after.ticks - before.ticks
    return {"load_before": before.load1, "load_after": after.load1,
            "running_before": before.running, "running_after": after.running,
            "steal_percent": round(100 * (after.steal - before.steal) / ticks, 3) if ticks > 0 else 0.0}


# --- what `bench doctor` reports ----------------------------------------------------


@dataclass(frozen=True)
class NoiseSource:
    """One thing that moves timings, as doctor reports it: what it is, whether it is a
    problem here, and what to do about it."""

    name: str
    ok: bool
    detail: str
    advice: str = ""


def read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def governor(cpu: Path = CPU) -> NoiseSource:
    found = {read(p) for p in cpu.glob("cpu[0-9]*/cpufreq/scaling_governor")} - {None}
    if not found:
        return NoiseSource("cpu governor", True, "no cpufreq here (a VM, or fixed frequency)")
    ok = found == {"performance"}
    return NoiseSource("cpu governor", ok, ", ".join(sorted(str(g) for g in found)),
                       "" if ok else "set the performance governor: cpupower frequency-set -g "
                       "performance (or write it to /sys/devices/system/cpu/cpu*/cpufreq/"
                       "scaling_governor)")


def turbo(cpu: Path = CPU) -> NoiseSource:
    no_turbo, boost = read(cpu / "intel_pstate/no_turbo"), read(cpu / "cpufreq/boost")
    if no_turbo is None and boost is None:
        return NoiseSource("turbo", True, "no turbo control here")
    on = no_turbo == "0" if no_turbo is not None else boost == "1"
    where = "intel_pstate/no_turbo" if no_turbo is not None else "cpufreq/boost"
    return NoiseSource("turbo", not on, "on" if on else "off",
                       f"turbo makes the clock depend on temperature and on the other cores: "
                       f"turn it off in {cpu / where}" if on else "")


def smt(cpu: Path = CPU) -> NoiseSource:
    siblings = {read(p) for p in cpu.glob("cpu[0-9]*/topology/thread_siblings_list")} - {None}
    shared = sorted(s for s in siblings if s and ("," in s or "-" in s))
    if not shared:
        return NoiseSource("smt siblings", True, "no core runs two hardware threads")
    return NoiseSource("smt siblings", False, "threads sharing a core: " + " ".join(shared),
                       "pin instances (a driver's `cpus` option) to one thread of each core "
                       "and leave its sibling idle, or turn SMT off (/sys/devices/system/cpu/smt/"
                       "control)")


def busy_processes(interval: float = 0.5, threshold: float = 10.0,
                   proc: Path = PROC) -> NoiseSource:
    """Processes that used more than `threshold` % of one CPU over `interval` seconds."""
    first = process_ticks(proc)
    time.sleep(interval)
    second = process_ticks(proc)
    hertz = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    busy = sorted(((100 * (second[pid][1] - first[pid][1]) / hertz / interval, second[pid][0], pid)
                   for pid in second.keys() & first.keys() if pid != me), reverse=True)
    busy = [b for b in busy if b[0] >= threshold]
    if not busy:
        return NoiseSource("busy processes", True, f"none above {threshold:.0f} % of a CPU")
    listed = ", ".join(f"{name} ({pid}) {share:.0f} %" for share, name, pid in busy[:5])
    return NoiseSource("busy processes", False, listed,
                       "measure when they are done, or pin them and the instances apart "
                       "(a driver's `cpus` option)")


def process_ticks(proc: Path = PROC) -> dict[int, tuple[str, int]]:
    """pid -> (name, user + system ticks so far)."""
    found = {}
    for entry in proc.glob("[0-9]*"):
        stat = read(entry / "stat")
        if stat is None or ")" not in stat:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))
    return found


def steal(interval: float = 0.5, proc: Path = PROC) -> NoiseSource:
    hypervisor = "hypervisor" in (read(proc / "cpuinfo") or "").split("flags", 1)[-1].split("\n", 1)[0]
    before = host_load(proc)
    time.sleep(interval)
    share = cell_noise(before, host_load(proc))["steal_percent"]
    where = "a virtual machine" if hypervisor else "no hypervisor flag"
    ok = share < STEAL_PERCENT
    return NoiseSource("steal time", ok, f"{share:.1f} % of CPU time over {interval} s ({where})",
                       "" if ok else "the hypervisor gives these CPUs to other guests: use a "
                       "dedicated host or instance type, and compare only runs measured side "
                       "by side")


def load_now(proc: Path = PROC) -> NoiseSource:
    cores = os.cpu_count() or 1
    load1 = host_load(proc).load1
    ok = load1 < LOAD_CHANGE_PER_CORE * cores
    return NoiseSource("load", ok, f"{load1:.2f} over the last minute on {cores} cores",
                       "" if ok else "other work shares these CPUs: timings will move with it; "
                       "wait for a quiet moment, and keep only ratios measured in one sitting")


def noise_sources() -> list[NoiseSource]:
    return [load_now(), governor(), turbo(), smt(), busy_processes(), steal()]
