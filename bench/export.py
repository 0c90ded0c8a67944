"""`bench export`: a results directory in another tool's format.

pytest-benchmark: the JSON that `pytest --benchmark-json` writes and `pytest-benchmark compare`
reads, so a project already tracking pytest-benchmark files can keep its tooling. One entry per
runtime, workload and time metric (boot.*, syscall.*), stats in seconds computed the way
pytest_benchmark.stats.Stats computes them; memory metrics have no place in that format and
are left out. A syscall sample is the mean time per call of one batch, so a "round" is a batch.
The command line is bench/commands/export.py.
"""

from __future__ import annotations

import json
import statistics
import sys
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.results.manifest import Manifest
from bench.results.run import load_run
from foundation.errors import ResultsError
from foundation.files import write_output

FORMATS = ("pytest-benchmark",)
PYTEST_BENCHMARK_VERSION = "5.2.3"  # the version whose reader this format was checked against
SECONDS = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}


def quartiles(data: list[float]) -> tuple[float, float]:
    """Q1 and Q3 as pytest-benchmark computes them (Wikipedia's methods 3 and 2)."""
    rounds = len(data)
    if rounds == 1:
        return data[0], data[0]
    if rounds % 2 == 0:
        return statistics.median(data[: rounds // 2]), statistics.median(data[rounds // 2:])
    n, q = rounds // 4, rounds % 4
    if q == 1:
        return (0.25 * data[n - 1] + 0.75 * data[n],
                0.75 * data[3 * n] + 0.25 * data[3 * n + 1])
    return 0.75 * data[n] + 0.25 * data[n + 1], 0.25 * data[3 * n + 1] + 0.75 * data[3 * n + 2]


def tukey_whiskers(data: list[float], q1: float, q3: float) -> tuple[float, float]:
    """Lowest and highest datum within 1.5 IQR of the quartiles (pytest-benchmark's ld15iqr,
    hd15iqr)."""
    if len(data) == 1:
        return data[0], data[0]
    iqr = q3 - q1
    low = data[bisect_left(data, q1 - 1.5 * iqr)]
    position = bisect_right(data, q3 + 1.5 * iqr)
    return low, data[-1] if position == len(data) else data[position]


def benchmark_stats(values: list[float]) -> dict[str, Any]:
    """pytest-benchmark's stats block for one series of round times, in seconds."""
    data = sorted(values)
    mean = statistics.mean(data)
    stddev = statistics.stdev(data) if len(data) > 1 else 0.0
    q1, q3 = quartiles(data)
    iqr = q3 - q1
    ld15iqr, hd15iqr = tukey_whiskers(data, q1, q3)
    iqr_outliers = sum(v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr for v in data)
    stddev_outliers = sum(v < mean - stddev or v > mean + stddev for v in data)
    return {"min": data[0], "max": data[-1], "mean": mean, "stddev": stddev, "rounds": len(data),
            "median": statistics.median(data), "iqr": iqr, "q1": q1, "q3": q3,
            "iqr_outliers": iqr_outliers, "stddev_outliers": stddev_outliers,
            "outliers": f"{stddev_outliers};{iqr_outliers}", "ld15iqr": ld15iqr,
            "hd15iqr": hd15iqr, "ops": 1 / mean if mean else 0.0, "total": sum(data),
            "data": list(values), "iterations": 1}


def machine_info(manifest: Manifest) -> dict[str, Any]:
    host = manifest.host
    return {"node": host.get("hostname", ""), "processor": host.get("arch", ""),
            "machine": host.get("arch", ""), "python_implementation": "CPython",
            "python_version": host.get("python", ""), "release": host.get("kernel", ""),
            "system": "Linux", "cpu": {"brand_raw": host.get("cpu_model", ""),
                                       "count": host.get("cores"), "arch": host.get("arch", "")},
            "bench": {"cgroup_version": host.get("cgroup_version"),
                      "drivers": dict(manifest.drivers)}}


def commit_info(manifest: Manifest) -> dict[str, Any]:
    commit = str(manifest.host.get("bench_commit") or "unversioned")
    return {"id": commit.removesuffix("+dirty"), "dirty": commit.endswith("+dirty"),
            "project": "bench", "branch": None, "time": None, "author_time": None}


def benchmark_entry(runtime: str, workload: str, metric: str, unit: str, values: list[float],
                    manifest: Manifest) -> dict[str, Any]:
    seconds = [v * SECONDS[unit] for v in values]
    return {"group": f"{workload} {metric}", "name": f"{metric}[{runtime}]",
            "fullname": f"bench/{workload}::{metric}[{runtime}]",
            "params": {"runtime": runtime}, "param": runtime,
            "extra_info": {"runtime": runtime, "workload": workload, "metric": metric,
                           "unit": unit, "run_id": manifest.run_id},
            "options": {"disable_gc": False, "timer": "host monotonic clock",
                        "min_rounds": len(values), "max_time": 0, "min_time": 0,
                        "warmup": manifest.config.warmup > 0},
            "stats": benchmark_stats(seconds)}


def to_pytest_benchmark(path: Path) -> dict[str, Any]:
    """The run as one pytest-benchmark JSON document: each time row's ok samples, in file
    order."""
    run = load_run(path)
    benchmarks = [benchmark_entry(*key, series.unit, series.values.tolist(), run.manifest)
                  for key, series in sorted(run.series.items())
                  if series.unit in SECONDS and series.values.size]
    created = datetime.fromtimestamp(float(run.manifest.created or 0), UTC)
    return {"machine_info": machine_info(run.manifest), "commit_info": commit_info(run.manifest),
            "benchmarks": benchmarks, "datetime": created.isoformat(),
            "version": PYTEST_BENCHMARK_VERSION}


def export(results: Path, output: Path | None) -> None:
    """The run in `results` as pytest-benchmark JSON, written to `output` (default: stdout)."""
    document = to_pytest_benchmark(results)
    if not document["benchmarks"]:
        raise ResultsError(f"{results}: no successful time samples (boot.*, syscall.*) "
                           "to export")
    text = json.dumps(document, indent=2) + "\n"
    if output:
        write_output(output, text)
    else:
        sys.stdout.write(text)
