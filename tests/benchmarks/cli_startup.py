"""How long a bench command takes to answer when little is asked of it (`bench gate --help`,
`bench history list` of an empty store, `bench --help`), for one or more checkouts of
bench, interleaved command by command and round by round in one sitting, beside two
floors measured the same way: the interpreter alone and `import bench.cli`. Each run's wall
time and CPU time (user + system, from getrusage): on a shared host the CPU time moves less
with the others' load than the wall time does.

Issue 22 point 4 moved every subcommand into a module of its own under bench/commands/;
`bench gate` and `bench history list` were to keep their speed.

Run (the checkout before a change beside this one, e.g. `git archive main | tar -x -C
/tmp/before`):
    python3 tests/benchmarks/cli_startup.py --checkout /tmp/before --checkout . --rounds 15
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def commands(store: Path) -> dict[str, list[str]]:
    bench = [sys.executable, "-m", "bench.cli"]
    return {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "import bench.cli (floor)": [sys.executable, "-c", "import bench.cli"],
        "bench gate --help": [*bench, "gate", "--help"],
        "bench history list (empty store)": [*bench, "history", "list", "--store", str(store)],
        "bench history list --help": [*bench, "history", "list", "--help"],
        "bench --help": [*bench, "--help"],
    }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], checkout: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run from the checkout (output discarded; it must succeed)."""
    started, cpu = time.perf_counter(), children_cpu()
    subprocess.run(argv, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, timeout=120)
    return time.perf_counter() - started, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", action="append", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    checkouts = [checkout.resolve() for checkout in args.checkout]
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as scratch:
        argvs = commands(Path(scratch) / "history.sqlite")
        for checkout in checkouts:  # warm the page cache and create the store's schema
            for argv in argvs.values():
                timed(argv, checkout)
        times = sitting(argvs, checkouts, args.rounds, timed)
    report(argvs, checkouts, times, args.rounds)


Times = dict[tuple[str, Path], list[tuple[float, float]]]  # (command, checkout) -> (wall, CPU)


def sitting(argvs: dict[str, list[str]], checkouts: list[Path], rounds: int,
            time_one: Callable[[list[str], Path], tuple[float, float]]) -> Times:
    """Every command from every checkout, `rounds` times, interleaved command by command
    (the checkouts' order alternating by round), with the load average before and after."""
    times: Times = {}
    print(f"load average before: {os.getloadavg()}")
    for round_number in range(rounds):
        order = checkouts if round_number % 2 == 0 else checkouts[::-1]
        for label, argv in argvs.items():
            for checkout in order:
                times.setdefault((label, checkout), []).append(time_one(argv, checkout))
    print(f"load average after: {os.getloadavg()}")
    return times


def report(argvs: dict[str, list[str]], checkouts: list[Path], times: Times, rounds: int) -> None:
    """Each command's median wall and CPU time per checkout, and its ratio to the first's."""
    width = max(map(len, argvs))
    for label in argvs:
        first = medians(times[(label, checkouts[0])])
        for checkout in checkouts:
            wall, cpu = medians(times[(label, checkout)])
            print(f"{label:{width}s} {checkout}: wall {wall * 1000:6.1f} ms ({wall / first[0]:4.2f} x),"
                  f" CPU {cpu * 1000:6.1f} ms ({cpu / first[1]:4.2f} x the first checkout),"
                  f" medians of {rounds}")


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(run[0] for run in runs), statistics.median(run[1] for run in runs)


if __name__ == "__main__":
    main()
