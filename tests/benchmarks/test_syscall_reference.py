"""The probe's syscall.getppid against independent loops, side by side in one sitting.

bench's side: the probe's syscall mode run by the process driver (the median of its batches
per instance). References: `perf bench syscall basic` with the same calls per batch, as many
times as the probe runs batches (the reference `bench verify` uses), and a plain C loop of
raw getppid calls sharing no code with the probe. Fails when the probe is more than 10 %
away from either.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

from bench.collectors import syscall_samples
from bench.plan import Cell
from bench.verify.checks import SYSCALL_TOLERANCE
from bench.verify.references import perf_bench_getppid
from bench.workload.bundle import build_bundle
from runtimes.base import ProbeCommand
from runtimes.host.build import compile_static
from runtimes.process.driver import ProcessDriver, ProcessOptions
from tests.benchmarks.sitting import CACHE, Measured, check_ratio, deadline, side_by_side, sitting
from tests.conftest import require

LOOP = Path(__file__).with_name("getppid_loop.c")
BATCHES, CALLS = 20, 2000
SYSCALLS = ProbeCommand("syscall", (f"batches={BATCHES}", f"calls={CALLS}", "warmup=2"))


def probe_getppid(driver: ProcessDriver) -> Measured:
    instance = driver.start(SYSCALLS, deadline())
    try:
        cell = Cell(0, driver.name, "syscalls", 0, False)
        values = [s.value for s in syscall_samples(cell, instance, deadline())
                  if s.metric == "syscall.getppid" and s.value is not None]
    finally:
        driver.stop(instance)
    return statistics.median(values), lambda: None


def c_loop(binary: Path) -> float:
    out = subprocess.run([str(binary), str(CALLS)], capture_output=True, text=True, timeout=60,
                         check=True)
    return float(out.stdout)


def test_probe_getppid_agrees_with_perf_bench_and_a_plain_loop(benchmark: Any) -> None:
    require(shutil.which("perf") is not None, "perf (apt-get install linux-perf)")
    options = ProcessOptions()
    with sitting(ProcessDriver, options, "bs") as context:
        driver = ProcessDriver("process", options, context)
        driver.prepare(build_bundle(CACHE).probe)
        loop = compile_static(LOOP, CACHE)
        ours, theirs = side_by_side(benchmark, lambda: probe_getppid(driver), {
            "perf bench": lambda: statistics.median(
                perf_bench_getppid(CALLS) for _ in range(BATCHES)),
            "c loop": lambda: c_loop(loop)}, rounds=9)
    for name, values in theirs.items():
        check_ratio(benchmark, f"probe getppid / {name}", ours, values,
                    1 - SYSCALL_TOLERANCE, 1 + SYSCALL_TOLERANCE)
