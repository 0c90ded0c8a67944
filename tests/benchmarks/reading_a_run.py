"""How long bench takes to read a finished run: `bench summary DIR --json`, `bench summary
DIR` (the table) and `bench gate --uncalibrated` of the run against itself, for one or more
checkouts of bench, interleaved command by command and round by round in one sitting. Each
run's wall time and CPU time (user + system, from getrusage): on a shared host the CPU time
moves less with the others' load than the wall time does.

Issue 22 point 2 made the manifest one typed model, read through its version's upgrade; a
run was to read as fast as before. Give the directory of a quick run that every checkout
can read (an older bench refuses a newer format: give one it wrote), e.g. a version-1
directory for a checkout before the change and one after it (the later one upgrades it on
every read, so this measures that too).

Run:
    git archive main | tar -x -C /tmp/before
    python3 -m tests.benchmarks.reading_a_run RESULTS_DIR --checkout /tmp/before \\
        --checkout . --rounds 15
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.benchmarks.cli_startup import children_cpu, report, sitting


def commands(results: Path) -> dict[str, list[str]]:
    bench = [sys.executable, "-m", "bench.cli"]
    return {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "bench summary DIR --json": [*bench, "summary", str(results), "--json"],
        "bench summary DIR": [*bench, "summary", str(results)],
        "bench gate --uncalibrated (DIR vs DIR)": [*bench, "gate", "--uncalibrated", "--baseline",
                                                   str(results), "--candidate", str(results)],
    }


def timed(argv: list[str], checkout: Path) -> tuple[float, float, bytes]:
    """Wall and CPU seconds of one run from the checkout, and its output (the gate may exit
    1 on a regression it finds; anything else is a failure). Python writes and uses its
    bytecode caches, as an installed bench does (with PYTHONDONTWRITEBYTECODE every run would
    compile every module again, and a larger module would look slower to read a run)."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(argv, cwd=checkout, capture_output=True, timeout=300, env=environment)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{checkout}: {' '.join(argv)} exited {done.returncode}: "
                         f"{done.stderr.decode(errors='replace')[-500:]}")
    return time.perf_counter() - started, children_cpu() - cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a finished run's results directory")
    parser.add_argument("--checkout", action="append", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    checkouts = [checkout.resolve() for checkout in args.checkout]
    argvs = commands(args.results.resolve())
    for checkout in checkouts:  # warm the page cache; the summary's bytes, per checkout
        for label, argv in argvs.items():
            output = timed(argv, checkout)[2]
            if label == "bench summary DIR --json":
                print(f"{checkout}: summary --json sha256 {hashlib.sha256(output).hexdigest()}")
    times = sitting(argvs, checkouts, args.rounds, lambda argv, at: timed(argv, at)[:2])
    report(argvs, checkouts, times, args.rounds)


if __name__ == "__main__":
    main()
