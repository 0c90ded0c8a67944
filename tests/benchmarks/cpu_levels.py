"""Where per-instance getppid levels come from (issue 21): the CPU's speed at the moment.

    python -m tests.benchmarks.cpu_levels [--rounds 60] [--cpu 1]

Per-instance getppid medians fall on a few levels a few per cent apart while the batches
inside one instance agree; pinning does not remove them. This compiles cpu_levels.c (static),
runs it pinned to one CPU, and prints per round the getppid median beside the median speed
of a fixed user-space loop timed right before it on the same thread: one process, one
thread, one CPU, the same pages all along. If the getppid figure steps while the loop's
speed steps with it (the correlation printed, and the loop's speed per getppid level), the
levels are the CPU's speed over time (its clock, a hyperthread sibling or the hypervisor
sharing its core), which no placement of an instance can remove: only more instances,
interleaved, average them out.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from runtimes.host.build import compile_static

SOURCE = Path(__file__).with_name("cpu_levels.c")


def rounds_of(binary: Path, rounds: int, cpu: int) -> list[tuple[float, float]]:
    done = subprocess.run(["taskset", "-c", str(cpu), str(binary), str(rounds)],
                          capture_output=True, text=True, timeout=600, check=True)
    return [(float(a), float(b)) for a, b in (line.split() for line in done.stdout.splitlines())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--cpu", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cpu-levels-") as cache:
        rows = rounds_of(compile_static(SOURCE, Path(cache)), args.rounds, args.cpu)
    calls = [call for call, _ in rows]
    loops = [loop for _, loop in rows]
    print("getppid ns/call per round: ", " ".join(f"{c:.1f}" for c in calls))
    print("user loop ns/iter per round:", " ".join(f"{u:.3f}" for u in loops))
    print(f"correlation of the two over rounds: {np.corrcoef(calls, loops)[0, 1]:.3f}")
    for level in sorted({round(c) for c in calls}):
        speeds = [u for c, u in rows if round(c) == level]
        print(f"getppid ~{level} ns: {len(speeds)} round(s), loop {statistics.median(speeds):.3f} ns/iter")


if __name__ == "__main__":
    main()
