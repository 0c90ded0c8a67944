"""What the process baseline's cgroup costs: boot.total and memory.host_pss of the contained
driver against the same probe spawned as before (no cgroup, no join), interleaved round by
round in one sitting.

The cgroup's start path is a mkdir per hierarchy and the probe's own write of 0 to its
`tasks` (v1) or `cgroup.procs` (v2) file; its memory cost falls on the kernel (the cgroup's
structures), not on the probe's PSS, which is the figure every overhead is taken against. So
the claim checked: host_pss stays where it was (ratio within 2 %); the boot ratio is recorded
with its interval, with a wide bound (this host's load moves single launches by tens of %).

Run: python3 -m pytest tests/benchmarks/test_process_cgroup_cost.py --benchmark-only -s
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from bench.results.estimates import ratio_of_medians
from bench.workload.bundle import build_bundle
from runtimes.base import ProbeCommand
from runtimes.host.launched import Contained
from runtimes.host.spawn import spawn, stop_process
from runtimes.instance import Instance
from runtimes.process.driver import ProcessDriver, ProcessOptions
from tests.benchmarks.sitting import CACHE, deadline, sitting

ROUNDS = 20
SETTLE_S = 1.0
IDLE = ProbeCommand("ready", ("idle=60",))


class Uncontained(ProcessDriver):
    """The process driver as it was before its cgroup: the probe spawned, nothing else."""

    def launch(self, instance: Instance[Contained], command: ProbeCommand) -> None:
        handle = instance.handle = Contained(self.cgroups.cgroup(instance.name))  # never made
        handle.process = spawn(instance, [str(self.probe), *command.argv()], self.options.cpus)
        instance.mark("spawn")

    def teardown(self, instance: Instance[Contained]) -> None:
        if instance.handle is not None and instance.handle.process is not None:
            stop_process(instance.handle.process, self.grace_seconds)
            instance.mark_stop("exit")


def one(driver: ProcessDriver) -> tuple[float, float, float]:
    """boot.total (ms), memory.host_pss (bytes) and the cgroup step (ms; 0 without) of one
    idle instance."""
    instance = driver.start(IDLE, deadline())
    try:
        instance.output.wait_for("BENCH-IDLE", deadline(), driver.name)
        time.sleep(SETTLE_S)
        return (instance.boot_total_ms(), float(driver.memory(instance).host_pss),
                instance.boot_phases().get("cgroup", 0.0))
    finally:
        driver.stop(instance)


def record(benchmark: Any, name: str, ours: list[float], before: list[float]) -> float:
    ratio = ratio_of_medians(ours, before)
    assert ratio is not None
    benchmark.extra_info[name] = {"ratio": ratio.point, "ci_low": ratio.low, "ci_high": ratio.high,
                                  "contained_median": statistics.median(ours),
                                  "uncontained_median": statistics.median(before),
                                  "n": len(ours), "load": os.getloadavg()[0]}
    print(f"\n{name}: contained {statistics.median(ours):.6g}, uncontained "
          f"{statistics.median(before):.6g}, ratio {ratio.point:.3f} "
          f"[{ratio.low} .. {ratio.high}], load {os.getloadavg()[0]:.2f}")
    return ratio.point


def test_the_cgroup_leaves_the_baselines_memory_where_it_was(benchmark: Any) -> None:
    options = ProcessOptions()
    with sitting(ProcessDriver, options, "cg") as context:
        contained = ProcessDriver("process", options, context)
        uncontained = Uncontained("plain", options, context)
        probe = build_bundle(CACHE).probe
        for driver in (contained, uncontained):
            driver.prepare(probe)
        one(contained), one(uncontained)  # warm-up: page cache, the cgroup parents
        sides: dict[str, list[tuple[float, float, float]]] = {"contained": [], "uncontained": []}

        def round_of_two() -> None:
            order = [contained, uncontained] if len(sides["contained"]) % 2 else [uncontained, contained]
            for driver in order:
                sides["contained" if driver is contained else "uncontained"].append(one(driver))

        benchmark.pedantic(round_of_two, rounds=ROUNDS, iterations=1)
        contained.close()
    boot = record(benchmark, "boot.total", [b for b, _, _ in sides["contained"]],
                  [b for b, _, _ in sides["uncontained"]])
    pss = record(benchmark, "memory.host_pss", [m for _, m, _ in sides["contained"]],
                 [m for _, m, _ in sides["uncontained"]])
    step = statistics.median(c for _, _, c in sides["contained"])
    benchmark.extra_info["boot.cgroup"] = step
    print(f"boot.cgroup (mkdir in each hierarchy), contained: median {step:.3f} ms")
    assert 0.98 <= pss <= 1.02, f"the probe's PSS moved by {pss - 1:+.1%} with its cgroup"
    assert 0.5 <= boot <= 3.0, f"boot.total ratio {boot:.2f}: far beyond this host's noise"
