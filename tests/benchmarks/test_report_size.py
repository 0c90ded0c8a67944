"""How long the HTML report of a million samples takes, and how big the file is.

Run it as a script (prints both numbers):

    python -m tests.benchmarks.test_report_size [--repetitions 200] [--batches 207]

or through pytest-benchmark:

    python3 -m pytest tests/benchmarks/test_report_size.py --benchmark-only -s

The results directory (four runtimes, 200 repetitions, 207 syscall batches per syscall:
1,002,200 samples, about 225 MB of JSON lines) is generated in a temporary directory
and removed afterwards. The targets are under 10 s and under 5 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reports.html import write_report
from tests.report_fixtures import write_results

RUNTIMES = {name: name for name in ("process", "native", "docker", "libvirt")}
SECONDS_TARGET = 10.0
BYTES_TARGET = 5_000_000


@dataclass(frozen=True)
class Measurement:
    samples: int
    wall_s: float
    cpu_s: float
    size_bytes: int
    parser: str

    def lines(self) -> list[str]:
        load = os.getloadavg()[0]
        return [f"samples:      {self.samples:,}",
                f"write_report: {self.wall_s:.2f} s wall, {self.cpu_s:.2f} s CPU "
                f"(target < {SECONDS_TARGET:.0f} s; load average {load:.2f}; JSON: {self.parser})",
                f"report file:  {self.size_bytes:,} bytes = {self.size_bytes / 1e6:.2f} MB "
                f"(target < {BYTES_TARGET / 1e6:.0f} MB)"]


def json_parser() -> str:
    try:
        import orjson  # noqa: F401
    except ImportError:
        return "json (stdlib)"
    return "orjson"


def generate(folder: Path, repetitions: int, batches: int) -> tuple[Path, int]:
    results = write_results(folder / "million", runtimes=RUNTIMES, repetitions=repetitions,
                            syscall_batches=batches, failures=3, density=True)
    with open(results / "samples.jsonl", "rb") as file:
        samples = sum(1 for _ in file)
    return results, samples


def measure(results: Path, samples: int, output: Path) -> Measurement:
    wall, cpu = time.perf_counter(), time.process_time()
    write_report([results], output)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Measurement(samples, wall, cpu, output.stat().st_size, json_parser())


def run(repetitions: int, batches: int) -> Measurement:
    folder = Path(tempfile.mkdtemp(prefix="bench-report-size-"))
    try:
        results, samples = generate(folder, repetitions, batches)
        return measure(results, samples, folder / "report.html")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def million() -> Iterator[tuple[Path, int]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-report-size-"))
    try:
        yield generate(folder, 200, 207)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_report_of_a_million_samples(benchmark: Any, million: tuple[Path, int],
                                     tmp_path: Path) -> None:
    results, samples = million
    output = tmp_path / "report.html"
    measurement = benchmark.pedantic(measure, args=(results, samples, output), rounds=1,
                                     iterations=1)
    print("\n" + "\n".join(measurement.lines()))
    benchmark.extra_info.update(samples=samples, size_bytes=measurement.size_bytes,
                                cpu_s=measurement.cpu_s, load=os.getloadavg()[0])
    assert samples >= 1_000_000
    assert measurement.size_bytes < BYTES_TARGET


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--batches", type=int, default=207, help="syscall batches per cell")
    args = parser.parse_args(argv)
    measurement = run(args.repetitions, args.batches)
    print("\n".join(measurement.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
