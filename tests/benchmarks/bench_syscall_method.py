"""The probe's syscall figures before and after the loop-cost change (issue 20, point 1), side
by side in one sitting.

    python -m tests.benchmarks.bench_syscall_method [--before REV] [--rounds 6]
        [--runtimes process native oci-runsc docker-runsc] [--calls 500 2000]

The "before" probe is bench/workload/probe.c as of REV (default df90d57, the main branch
this change started from: one empty-loop estimate, taken first, subtracted from every
batch), the "after" probe is the checkout's (an empty batch of the same shape before each
batch; the loop's cost the least of them, at most the least batch with the call). For each
round, runtime and batch size, both probes run one syscall instance each (batches=10,
warmup=2, as configs/runtimes.yaml), in alternating order, through bench's own drivers. It
prints, per runtime and call, the median over instances of each instance's median cost
before and after, their ratio with its 95 % interval (bench.results.estimates), how many batch
costs came out negative, and the loop cost each subtracted. Everything a round starts is
removed (tests.benchmarks.sitting checks it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.results.estimates import ratio_of_medians
from bench.workload.bundle import WORKLOAD_SOURCE
from runtimes.base import AnyDriver, ProbeCommand, RunContext
from runtimes.docker.driver import DockerDriver
from runtimes.host.build import compile_static
from runtimes.native.driver import NativeDriver
from runtimes.oci.driver import OciDriver
from runtimes.process.driver import ProcessDriver
from runtimes.protocol import parse_syscalls
from tests.benchmarks.sitting import deadline, sitting

RUNTIMES: dict[str, tuple[type[AnyDriver], dict[str, Any]]] = {
    "process": (ProcessDriver, {}), "native": (NativeDriver, {}),
    "oci-runsc": (OciDriver, {"runtime": "runsc", "platform": "ptrace"}),
    "docker-runsc": (DockerDriver, {"runtime": "runsc"}),
}
CALLS = ("getppid", "clock_gettime", "write", "read", "open_close", "stat")
# per (runtime, calls, probe side, call): each instance's median cost, and its batches
Figures = dict[tuple[str, int, str, str], list[float]]


def before_probe(rev: str, cache: Path, folder: Path) -> Path:
    source = folder / "probe.c"  # named so: the binary takes the source's stem
    text = subprocess.run(["git", "show", f"{rev}:bench/workload/probe.c"], capture_output=True,
                          text=True, timeout=30, check=True).stdout
    source.write_text(text)
    return compile_static(source, cache)


def one_instance(driver: AnyDriver, calls: int) -> list[tuple[str, float]]:
    command = ProbeCommand("syscall", ("batches=10", f"calls={calls}", "warmup=2"))
    instance = driver.start(command, deadline())
    try:
        assert instance.output.wait_closed(deadline()), "the probe did not finish"
        return [(b.name, b.ns_per_call) for b in parse_syscalls(instance.output.text())]
    finally:
        driver.stop(instance)


def measure_runtime(name: str, probes: dict[str, Path], rounds: int, sizes: list[int],
                    found: Figures, batches: Figures) -> None:
    cls, options = RUNTIMES[name]
    typed = cls.Options.model_validate(options)
    with sitting(cls, typed, "sm") as context:
        drivers = {side: prepared(cls, typed, context, f"{name}-{side}", probe)
                   for side, probe in probes.items()}
        try:
            for round_ in range(rounds):
                order = list(drivers) if round_ % 2 == 0 else list(reversed(drivers))
                for calls in sizes:
                    for side in order:
                        costs = one_instance(drivers[side], calls)
                        for call in CALLS:
                            values = [v for c, v in costs if c == call]
                            found.setdefault((name, calls, side, call), []).append(
                                statistics.median(values))
                            batches.setdefault((name, calls, side, call), []).extend(values)
        finally:
            for driver in drivers.values():
                driver.close()


def prepared(cls: type[AnyDriver], options: Any, context: RunContext, label: str,
             probe: Path) -> AnyDriver:
    driver = cls(label, options, context)
    driver.prepare(probe)
    return driver


def report(found: Figures, batches: Figures, runtimes: list[str], sizes: list[int]) -> None:
    print(f"{'runtime':<13}{'calls':>6} {'call':<14}{'before':>11}{'after':>11}  "
          f"{'after/before [95% CI]':<26}{'negative before/after':>22}")
    for name in runtimes:
        for calls in sizes:
            for call in CALLS:
                old, new = found[(name, calls, "before", call)], found[(name, calls, "after", call)]
                ratio = ratio_of_medians(new, old)
                shown = "-" if ratio is None else f"{ratio.point:.3f}" + (
                    f" [{ratio.low:.3f} .. {ratio.high:.3f}]" if ratio.low is not None
                    and ratio.high is not None else " (no interval)")
                negative = [sum(v < 0 for v in batches[(name, calls, side, call)])
                            for side in ("before", "after")]
                counts = [len(batches[(name, calls, side, call)]) for side in ("before", "after")]
                print(f"{name:<13}{calls:>6} {call:<14}{statistics.median(old):>10.1f} "
                      f"{statistics.median(new):>10.1f}  {shown:<26}"
                      f"{negative[0]:>6}/{counts[0]} {negative[1]:>5}/{counts[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="df90d57", help="git revision of the old probe.c")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=list(RUNTIMES))
    parser.add_argument("--calls", type=int, nargs="+", default=[500])
    args = parser.parse_args()
    print(f"load before: {Path('/proc/loadavg').read_text().strip()}")
    with tempfile.TemporaryDirectory(prefix="bench-syscall-method-") as folder:
        cache = Path(folder) / "cache"
        cache.mkdir()
        probes = {"before": before_probe(args.before, cache, Path(folder)),
                  "after": compile_static(WORKLOAD_SOURCE, cache)}
        found: Figures = {}
        batches: Figures = {}
        for name in args.runtimes:
            measure_runtime(name, probes, args.rounds, args.calls, found, batches)
    print(f"load after: {Path('/proc/loadavg').read_text().strip()}")
    report(found, batches, args.runtimes, args.calls)


if __name__ == "__main__":
    main()
