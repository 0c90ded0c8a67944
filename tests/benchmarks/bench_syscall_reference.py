"""Does the probe's syscall.getppid agree with independent references, side by side?

Interleaves, in one sitting: the probe's syscall mode run by the process driver (median of
its batches), a plain C loop of raw getppid calls, and `perf bench syscall basic` where perf
exists. Prints each median and the probe's ratio to each reference.

    python3 -m tests.benchmarks.bench_syscall_reference [ROUNDS]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.collectors import syscall_samples
from bench.plan import Cell
from bench.workload.bundle import build_bundle
from runtimes.base import DriverOptions, ProbeCommand, RunContext
from runtimes.host.build import compile_static
from runtimes.process import ProcessDriver

LOOP = Path(__file__).with_name("getppid_loop.c")


def probe_getppid(driver: ProcessDriver) -> float:
    deadline = time.monotonic_ns() + 60 * 10**9
    instance = driver.start(ProbeCommand("syscall", ("batches=20", "calls=20000", "warmup=3")),
                            deadline)
    try:
        cell = Cell(0, "process", "sys", 0, False)
        values = [s.value for s in syscall_samples(cell, instance, deadline)
                  if s.metric == "syscall.getppid" and s.value is not None]
    finally:
        driver.stop(instance)
    return statistics.median(values)


def c_loop(binary: Path) -> float:
    out = subprocess.run([str(binary), "20000"], capture_output=True, text=True, timeout=60)
    return float(out.stdout)


def perf_bench() -> float:
    out = subprocess.run(["perf", "bench", "syscall", "basic", "--loop", "400000"],
                         capture_output=True, text=True, timeout=60)
    line = next(x for x in out.stdout.splitlines() if "usecs/op" in x)
    return float(line.split()[0]) * 1000


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as tmp:
        cache = Path(tmp)
        bundle = build_bundle(cache)
        loop = compile_static(LOOP, cache)
        driver = ProcessDriver("process", DriverOptions(), RunContext("ref", cache, cache))
        driver.prepare(bundle.probe)
        results: dict[str, list[float]] = {"probe": [], "c_loop": []}
        if shutil.which("perf"):
            results["perf_bench"] = []
        for _ in range(rounds):
            results["probe"].append(probe_getppid(driver))
            results["c_loop"].append(c_loop(loop))
            if "perf_bench" in results:
                results["perf_bench"].append(perf_bench())
    medians = {name: statistics.median(v) for name, v in results.items()}
    for name, value in medians.items():
        print(f"{name:>10}: median {value:8.1f} ns per getppid over {rounds} rounds")
    for name in medians.keys() - {"probe"}:
        print(f"probe / {name}: {medians['probe'] / medians[name]:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9)
