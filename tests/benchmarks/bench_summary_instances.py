"""How long `bench summary --json` takes for one row of many instances (issue 20, point 10).

    python -m tests.benchmarks.bench_summary_instances [--sizes 1000 32000 100000]

For each size N, a results directory is written through RunWriter with two runtimes of N
instances each (one boot.total sample per instance, a process baseline and a candidate),
and `bench summary DIR --json` runs 3 times as a user runs it (a new process each time).
Its median wall time is printed beside two references from the same sitting: the
interpreter importing bench.cli (the floor of any bench command), and the exact integer
computation of the median's rank that the summary used before (sums of C(n, i) in big
integers), timed for the sizes where it ends in reasonable time (N <= --reference-limit).
Each interval printed is also checked against scipy's binomial quantiles. Everything is
written in a temporary directory, removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from bench.results.manifest import Manifest, RunConfig
from bench.results.sample import Sample
from bench.results.writer import RunWriter

REPEATS = 3


def write_instances(path: Path, count: int) -> Path:
    config = {"runtimes": {"process": {"driver": "process"}, "native": {"driver": "native"}},
              "workloads": {"idle": {"mode": "ready"}}}
    store = RunWriter.create(path, Manifest(run_id="bench1", config=RunConfig(config), host={}))
    rng = np.random.default_rng(count)
    try:
        for runtime, scale in (("process", 1.0), ("native", 1.3)):
            values = scale * rng.lognormal(1.0, 0.2, count)
            store.append([Sample(runtime, "idle", "boot.total", float(v), i, cell=2 * i)
                          for i, v in enumerate(values)])
        store.complete(0)
    finally:
        store.close()
    return path


def timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=True)
    return time.perf_counter() - started, done.stdout


def old_rank(n: int, tail: float) -> int:
    """The rank as the summary computed it before: every P(B <= j) in big integers."""
    limit = Fraction(tail) * 2**n
    k, total = 0, 0
    for j in range(n + 1):
        total += math.comb(n, j)
        if total > limit:
            break
        k = j + 1
    return k


def scipy_interval(values: np.ndarray, tail: float) -> tuple[float, float]:
    from scipy.stats import binom

    k = int(binom.ppf(tail, values.size, 0.5))
    k += int(binom.cdf(k, values.size, 0.5) <= tail)
    ordered = np.sort(values)
    return float(ordered[k - 1]), float(ordered[values.size - k])


def measure(folder: Path, count: int, reference_limit: int) -> None:
    path = write_instances(folder / f"n{count}", count)
    summary = [sys.executable, "-m", "bench.cli", "summary", str(path), "--json"]
    floor = [sys.executable, "-c", "import bench.cli"]
    runs, floors = [], []
    rows: list[dict[str, object]] = []
    for _ in range(REPEATS):  # interleaved: the summary, then the floor
        seconds, out = timed(summary)
        runs.append(seconds)
        rows = json.loads(out)
        floors.append(timed(floor)[0])
    row = next(r for r in rows if r["runtime"] == "native" and r["metric"] == "boot.total")
    values = np.array([json.loads(line)["value"] for line in
                       (path / "samples.jsonl").read_text().splitlines()
                       if '"native"' in line and '"boot.total"' in line])
    expected = scipy_interval(values, (1 - 0.95) / 2)
    agree = (row["ci_low"], row["ci_high"]) == expected
    line = (f"N={count:>7}: bench summary {statistics.median(runs):6.2f} s "
            f"(import floor {statistics.median(floors):.2f} s); interval = scipy's: {agree}")
    if count <= reference_limit:
        started = time.perf_counter()
        old_rank(count, (1 - 0.95) / 2)
        line += f"; the old integer rank alone: {time.perf_counter() - started:.2f} s"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 8000, 32000, 100_000])
    parser.add_argument("--reference-limit", type=int, default=8000)
    args = parser.parse_args()
    print(f"load: {Path('/proc/loadavg').read_text().strip()}")
    with tempfile.TemporaryDirectory(prefix="bench-summary-") as folder:
        for count in args.sizes:
            measure(Path(folder), count, args.reference_limit)


if __name__ == "__main__":
    main()
