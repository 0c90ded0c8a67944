"""Synthetic results directories for the gate's and export's tests, written through RunWriter
like a real run, and the CLI of `gate`, `calibrate` and `export` without the rest of bench."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.cli import add_command
from bench.commands import Environment, calibrate, export, gate
from bench.results.manifest import Manifest, RunConfig
from bench.results.sample import Sample
from bench.results.writer import RunWriter
from foundation.errors import BenchError

HOST = {"hostname": "ci", "kernel": "6.1.0-18-amd64", "cpu_model": "AMD EPYC 7B13", "cores": 2,
        "cgroup_version": "v2", "bench_commit": "abc123+dirty", "python": "3.11.7",
        "arch": "x86_64"}
# (workload, metric) -> median; syscall metrics get BATCHES samples per repetition
MEDIANS = {("idle", "boot.total"): 5.0, ("idle", "memory.host_pss"): 840e3,
           ("syscalls", "syscall.getppid"): 250.0}
BATCHES = 4


def values(rng: np.random.Generator, median: float, n: int, noise: float = 0.05) -> list[float]:
    return [float(v) for v in median * rng.lognormal(0.0, noise, size=n)]


def make_run(path: Path, scales: dict[str, float] | None = None, *, repetitions: int = 12,
             seed: int = 0, host: dict[str, Any] | None = None,
             drivers: dict[str, dict[str, Any]] | None = None, gate: dict[str, Any] | None = None,
             medians: dict[tuple[str, str], float] | None = None,
             failed: Sequence[str] = ()) -> Path:
    """A results directory, written through RunWriter like a real run. `scales` maps each
    runtime (its driver: the name up to a '-') to a factor on every median."""
    scales = scales or {"process": 1.0}
    rng = np.random.default_rng(seed)
    config = {"runtimes": {name: {"driver": name.split("-")[0], "options": {},
                                  "repetitions": None} for name in scales},
              "workloads": {"idle": {"mode": "ready"}, "syscalls": {"mode": "syscall"}},
              "warmup": 1, "gate": gate}
    fingerprints = {name: {"driver": "process"} for name in scales} | (drivers or {})
    store = RunWriter.create(path, Manifest(run_id=path.name, created=1.7e9,
                                            config=RunConfig(config), host=HOST | (host or {}),
                                            drivers=fingerprints))
    cell = 0
    for repetition in range(repetitions):
        for runtime, scale in scales.items():
            for (workload, metric), median in (medians or MEDIANS).items():
                count = BATCHES if metric.startswith("syscall.") else 1
                if runtime in failed:
                    samples = [Sample.failed(runtime, workload, metric, repetition, "it broke",
                                             cell)]
                else:
                    samples = [Sample(runtime, workload, metric, v, repetition, cell=cell)
                               for v in values(rng, median * scale, count)]
                store.append(samples)
                cell += 1
    store.complete(0)
    store.close()
    return path


def cli(argv: list[str], capsys: pytest.CaptureFixture[str] | None = None) -> int:
    """What bench.cli.main does with the parsers of `gate`, `calibrate` and `export`."""
    parser = argparse.ArgumentParser(prog="bench")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (gate, calibrate, export):
        add_command(sub, command)
    args = parser.parse_args(argv)
    args.environment = Environment(store=None, default_store=Path("/nonexistent/history.sqlite"))
    try:
        code: int = args.main(args)
    except BenchError as error:
        print(f"bench: {error}")
        return error.exit_code
    return code
