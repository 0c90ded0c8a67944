"""The launcher's own cost: bench's process boot beside the same launch timed in C, and beside
the start it replaced, interleaved round by round in one sitting.

- bench: the process driver's boot.total less its cgroup step (the figure `bench verify`
  holds against its reference), the probe started by the launcher (runtimes/host/launcher.c,
  in-process: clone3 with CLONE_VM|CLONE_VFORK into the cgroup made beforehand);
- C reference: `bench verify`'s own (bench/verify/launches.py): the probe entering a cgroup
  made beforehand, run by hyperfine -N through untilready to its ready line, less
  untilready's own cost, the median of five runs each after a pause;
- Popen (before): the same driver starting the probe as it did before the launcher
  (subprocess.Popen with pipes, a reader thread, the probe entering its cgroup itself).
Fails when bench's median leaves 10 % of the C reference's. Records the `request` phase
(bench asked -> the launcher has the request: bench's own Python part) and the Popen ratio.

Run: python3 -m pytest tests/benchmarks/test_launcher.py --benchmark-only -s
"""

from __future__ import annotations

import shutil
import statistics
from typing import Any

from bench.verify.launches import time_launch
from bench.verify.references import Launches
from bench.workload.bundle import build_bundle
from runtimes.base import instance_prefix
from runtimes.process.driver import ProcessDriver, ProcessOptions
from tests.benchmarks.bench_launcher import Popened
from tests.benchmarks.sitting import CACHE, READY_ONCE, Measured, check_ratio, deadline, side_by_side, sitting
from tests.conftest import require

ROUNDS = 30
TOLERANCE = 0.10  # bench verify's LAUNCH_TOLERANCE


def boot(driver: ProcessDriver, phases: list[dict[str, float]]) -> Measured:
    """boot.total less boot.cgroup of one instance; its phases kept; its teardown after."""
    instance = driver.start(READY_ONCE, deadline())
    found = instance.boot_phases()
    phases.append(found)
    return instance.boot_total_ms() - found["cgroup"], lambda: driver.stop(instance)


def once(driver: ProcessDriver) -> float:
    value, cleanup = boot(driver, [])
    cleanup()
    return value


def test_process_boot_against_the_c_reference_and_popen(benchmark: Any) -> None:
    require(shutil.which("hyperfine") is not None, "hyperfine (apt-get install hyperfine)")
    options = ProcessOptions()
    with sitting(ProcessDriver, options, "lb") as context:
        launched = ProcessDriver("process", options, context)
        popened = Popened("popen", options, context)
        timer = Launches(CACHE, f"{instance_prefix(context.run_id)}hyperfine")
        phases: list[dict[str, float]] = []
        try:
            probe = build_bundle(CACHE).probe
            for driver in (launched, popened):
                driver.prepare(probe)

            def reference() -> float:
                timed = time_launch(launched, context.run_id, timer)
                assert timed is not None
                return timed[1].value

            ours, theirs = side_by_side(benchmark, lambda: boot(launched, phases),
                                        {"C reference": reference, "Popen": lambda: once(popened)},
                                        rounds=ROUNDS)
        finally:
            timer.close()
            for driver in (launched, popened):
                driver.close()
    request = statistics.median(p["request"] for p in phases[-len(ours):])
    benchmark.extra_info["boot.request (ms)"] = request
    print(f"\nboot.request (bench's own part, median): {request:.3f} ms")
    check_ratio(benchmark, "Popen (before) / launcher", theirs["Popen"], ours, 0.0, float("inf"))
    check_ratio(benchmark, "process boot.total - boot.cgroup / C reference", ours,
                theirs["C reference"], 1 - TOLERANCE, 1 + TOLERANCE)
