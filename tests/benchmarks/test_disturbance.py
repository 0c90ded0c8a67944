"""What the harness does while the probe times system calls: nothing, or close to it.

The process and native drivers run the probe's syscall mode while `perf record -e
sched:sched_switch -a` watches every CPU. For each probe (by its host pid) it counts how
often a thread of the harness ran while the probe lived, and how often the probe was
preempted by one. A probe that wrote a line per batch woke the harness's reader each time
(about 600 harness runs and 70 preemptions per instance of 20 batches x 6 calls on the
2-core build host); one that reports after its loop wakes it a few times, at start and end.
Fails when the median harness runs per probe exceed RUNS_BOUND.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.collectors import syscall_samples
from bench.plan import Cell
from bench.workload.bundle import build_bundle
from runtimes.base import AnyDriver, ProbeCommand
from runtimes.native.driver import NativeDriver, NativeOptions
from runtimes.process.driver import ProcessDriver, ProcessOptions
from tests.benchmarks.sitting import CACHE, deadline, sitting
from tests.conftest import require

SYSCALLS = ProbeCommand("syscall", ("batches=20", "calls=2000", "warmup=2"))
RUNS_BOUND = 20  # READY, MEMINFO, the report and DONE, each read and stamped, plus slack
SWITCH = re.compile(r"\s(\d+)/(\d+)\s+\[\d+\]\s+([\d.]+):.*prev_comm=(.*?) prev_pid=(\d+) "
                    r"prev_prio=\d+ prev_state=(\S+) ==> next_comm=.*? next_pid=(\d+)")


def run_probes(drivers: list[AnyDriver], rounds: int) -> dict[int, str]:
    """Run the probe's syscall mode `rounds` times per driver; host pid -> driver name."""
    pids: dict[int, str] = {}
    for index in range(rounds):
        for driver in drivers:
            instance = driver.start(SYSCALLS, deadline())
            try:
                handle = instance.held()
                found = [handle.pid] if driver.kind == "process" else driver.host_pids(instance)  # type: ignore[attr-defined]
                pids.update(dict.fromkeys(found, driver.name))
                syscall_samples(Cell(index, driver.name, "syscalls", index, False), instance, deadline())
            finally:
                driver.stop(instance)
    return pids


def harness_runs(trace: str, harness: int, probes: dict[int, str]) -> dict[str, list[tuple[int, int]]]:
    """Per driver, per probe: (harness runs while it lived, preemptions of it by the harness)."""
    events = [m.groups() for line in trace.splitlines() if (m := SWITCH.search(line))]
    harness_tids = {int(tid) for pid, tid, *_ in events if int(pid) == harness}
    # the probe itself, not the native launcher that waits for it
    measured = {int(prev) for _, _, _, comm, prev, _, _ in events if comm == "probe"} & set(probes)
    life: dict[int, list[float]] = {}
    for _, _, stamp, _, prev, _, nxt in events:
        for pid in (int(prev), int(nxt)):
            if pid in measured:
                life.setdefault(pid, [float(stamp), float(stamp)])[1] = float(stamp)
    runs_in = Counter[int]()
    preempted = Counter[int]()
    for _, _, stamp, _, prev, state, nxt in events:
        if int(nxt) in harness_tids:
            for pid, (first, last) in life.items():
                runs_in[pid] += first <= float(stamp) <= last
            if int(prev) in probes and state.startswith("R"):
                preempted[int(prev)] += 1
    found: dict[str, list[tuple[int, int]]] = {}
    for pid in life:
        found.setdefault(probes[pid], []).append((runs_in[pid], preempted[pid]))
    return found


def armed(output: Path, timeout: float = 30.0) -> None:
    """perf takes a moment to start recording: wait until it has written its header."""
    deadline = time.monotonic() + timeout
    while not (output.exists() and output.stat().st_size > 0):
        assert time.monotonic() < deadline, "perf record did not start"
        time.sleep(0.1)
    time.sleep(1.0)


def stop_recording(record: subprocess.Popen[bytes]) -> None:
    """SIGINT makes perf write its data and leave; one that does not within a minute is killed."""
    record.send_signal(signal.SIGINT)
    try:
        record.wait(timeout=60)
    except subprocess.TimeoutExpired:
        record.kill()
        record.wait()


def test_the_harness_stays_off_the_cpu_while_the_probe_measures(benchmark: Any) -> None:
    require(shutil.which("perf") is not None, "perf (apt-get install linux-perf)")
    with sitting(NativeDriver, NativeOptions(), "ds", also=[(ProcessDriver, ProcessOptions())]) \
            as context:
        output = context.work_dir / "perf.data"
        drivers: list[AnyDriver] = [ProcessDriver("process", ProcessOptions(), context),
                                    NativeDriver("native", NativeOptions(), context)]
        record: subprocess.Popen[bytes] | None = None
        try:
            probe = build_bundle(CACHE).probe
            for driver in drivers:
                driver.prepare(probe)
            record = subprocess.Popen(["perf", "record", "-q", "-a", "-e", "sched:sched_switch",
                                       "-o", str(output)], stdout=subprocess.DEVNULL)
            armed(output)
            probes = benchmark.pedantic(run_probes, args=(drivers, 5), rounds=1, iterations=1)
        finally:  # a system-wide recording never outlives the benchmark, however it ends
            if record is not None:
                stop_recording(record)
            for driver in drivers:
                driver.close()
        trace = subprocess.run(["perf", "script", "-i", str(output), "-F",
                                "pid,tid,cpu,time,trace"], capture_output=True, text=True,
                               timeout=300, check=True).stdout
    per_driver = harness_runs(trace, os.getpid(), probes)
    for name, counts in per_driver.items():
        runs = statistics.median(c[0] for c in counts)
        benchmark.extra_info[name] = {"harness_runs_median": runs,
                                      "preempted_by_harness_median": statistics.median(c[1] for c in counts),
                                      "probes": len(counts), "load": os.getloadavg()[0]}
        print(f"\n{name}: {benchmark.extra_info[name]}")
        assert runs <= RUNS_BOUND, f"{name}: the harness ran {runs} times per probe (bound {RUNS_BOUND})"
    assert set(per_driver) == {"process", "native"}
