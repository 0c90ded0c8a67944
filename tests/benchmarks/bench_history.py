"""How fast the history store answers with 1,000 runs in it: `bench history list` and
`bench trend` for one metric, as a user runs them (a new process each time).

    python -m tests.benchmarks.bench_history [--runs 1000] [--postgres]

The store is filled with --runs runs (four runtimes, about 90 summary rows each, as a
ci-gate run has), recorded one transaction per run through the import's own write path
(bench.history.record.write_run) from 20 synthetic results directories, with their levels
drifting and a 10 % step two thirds of the way. Then each command runs 5 times, and the
median wall time is printed beside two references measured in the same sitting: the
interpreter importing bench.cli (the floor of any bench command) and, for SQLite, the
sqlite3 shell running the list's query; and each command's own work, called in this process
after its imports. The targets are list < 1 s, trend < 5 s. Everything
is made in a temporary directory and removed afterwards (with --postgres, a server started
by tests.history_fixtures, stopped afterwards).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.history.database import open_store
from bench.history.location import store_url
from bench.history.record import RUN, RunDocument, read_run, write_run
from tests.report_fixtures import Generator

RUNTIMES = {"process": "process", "native": "native", "docker-default": "docker",
            "docker-unconfined": "docker"}
DISTINCT = 20
REPEATS = 5
T0 = 1_750_000_000.0
LIST_QUERY = ("SELECT run_id, created, received, hostname, host_hash, config_name, config_hash, "
              "branch, \"commit\", status, path, origin, source FROM runs "
              "ORDER BY received DESC NULLS LAST, run_id LIMIT 50")


def sources(folder: Path) -> list[RunDocument]:
    documents = []
    for index in range(DISTINCT):
        path = Generator(RUNTIMES, repetitions=12, seed=index, syscall_batches=20).write(
            folder / f"source{index}")
        documents.append(read_run(path))
    return documents


def scaled(document: RunDocument, index: int, factor: float) -> RunDocument:
    """A copy with its own run id, time, commit, and every level multiplied by `factor`."""
    rows = [{**row, **{k: row[k] * factor for k in ("median", "ci_low", "ci_high", "mean", "p90",
                                                     "p99") if row.get(k) is not None}}
            for row in document.rows]
    instances = {key: [v * factor for v in values] for key, values in document.instances.items()}
    manifest = {**document.manifest, "run_id": f"bench{index:05d}", "created": T0 + 3600 * index,
                "config_commit": f"{index:040x}", "config_branch": "main"}
    return replace(document, manifest=manifest, rows=rows, instances=instances,
                   digest=f"{index:064x}")


def fill(url: str, documents: list[RunDocument], runs: int) -> float:
    rng = np.random.default_rng(7)
    store = open_store(store_url(url, Path("/unused")))
    started = time.perf_counter()
    try:
        for index in range(runs):
            factor = float(rng.lognormal(0, 0.03)) * (1.1 if index >= runs * 2 // 3 else 1.0)
            with store.writing() as connection:
                write_run(connection, scaled(documents[index % DISTINCT], index, factor), RUN,
                          "benchmark:synthetic")
    finally:
        store.close()
    return time.perf_counter() - started


def in_process(argv: list[str], url: str) -> float:
    """Median wall seconds of REPEATS calls of bench.cli.main in this process (imports done):
    the command's own work, without the interpreter's start."""
    import contextlib
    import io

    from bench.cli import main

    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main([*argv, "--store", url])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Median wall seconds of REPEATS runs of a command (its output discarded)."""
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, timeout=120)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def store_of(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield str(folder / "history.sqlite")
        return
    from tests.history_fixtures import postgres_server

    with postgres_server() as server:
        yield server.create_database()


def measure(kind: str, runs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        documents = sources(folder)
        with store_of(kind, folder) as url:
            filled = fill(url, documents, runs)
            env = {**os.environ, "BENCH_STORE": url}
            bench = [sys.executable, "-m", "bench.cli"]
            print(f"store: {kind}, {runs} runs, {sum(len(d.rows) for d in documents) // DISTINCT}"
                  f" rows each; recorded in {filled:.1f} s ({runs / filled:.0f} runs/s)")
            print(f"load average before: {os.getloadavg()[0]:.2f}")
            results = {
                "python -c 'import bench.cli' (floor)": timed(
                    [sys.executable, "-c", "import bench.cli"], env),
                "bench history list (newest 50)": timed([*bench, "history", "list"], env),
                "bench history list --limit 0 (all)": timed(
                    [*bench, "history", "list", "--limit", "0"], env),
                "bench trend --metric syscall.getppid": timed(
                    [*bench, "trend", "--metric", "syscall.getppid", "-o",
                     str(folder / "trend.html")], env),
            }
            page = str(folder / "trend-in-process.html")
            results["in process: history list"] = in_process(["history", "list"], url)
            results["in process: trend --metric syscall.getppid"] = in_process(
                ["trend", "--metric", "syscall.getppid", "-o", page], url)
            if kind == "sqlite" and shutil.which("sqlite3"):
                results["sqlite3 shell, the list's query"] = timed(["sqlite3", url, LIST_QUERY], env)
            for label, seconds in results.items():
                print(f"{label:42s} {seconds:6.2f} s (median of {REPEATS})")
            print(f"trend page: {(folder / 'trend.html').stat().st_size:,} bytes; "
                  f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true", help="also measure on PostgreSQL")
    args = parser.parse_args()
    for kind in ["sqlite", *(["postgresql"] if args.postgres else [])]:
        measure(kind, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
