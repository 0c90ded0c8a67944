"""Does a command workload give the same answer through bench as run by hand, side by side?

Each round, in one sitting: `sysbench cpu run` straight on the host (the reference), then
one `bench run` of the same command on process, native and docker, and of the same
program from a locally built image (files gathered by ldd, not by bench) on native and
docker. Prints every median of events/s and the ratios the issue asks about: process to
the host, native and docker to process, image to host tree.

    python3 -m tests.benchmarks.bench_workload_reference [ROUNDS] [SECONDS]
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml

from tests.integration.sysbench_image import build_sysbench_image


def host_events(seconds: int) -> float:
    out = subprocess.run(["sysbench", "cpu", "--threads=1", f"--time={seconds}", "run"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"events per second:\s*([0-9.]+)", out)
    if match is None:
        raise SystemExit(f"sysbench printed no events per second: {out[-300:]}")
    return float(match.group(1))


def bench_events(config: Path, out: Path) -> dict[tuple[str, str], float]:
    run = subprocess.run([sys.executable, "-m", "bench.cli", "run", str(config), "-o", str(out),
                          "--store", "none"],
                         capture_output=True, text=True, timeout=900)
    if run.returncode != 0:
        raise SystemExit(f"bench run failed ({run.returncode}): {run.stderr[-500:]}")
    rows = json.loads(subprocess.run([sys.executable, "-m", "bench.cli", "summary", str(out),
                                      "--json"], capture_output=True, text=True,
                                     timeout=120).stdout)
    return {(r["runtime"], r["workload"]): r["median"] for r in rows
            if r["metric"] == "workload.events_per_s"}


def main(rounds: int, seconds: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-reference-") as scratch:
        folder = Path(scratch)
        tag = build_sysbench_image(folder)
        argv = ["sysbench", "cpu", "--threads=1", f"--time={seconds}", "run"]
        cpu = {"mode": "command", "argv": argv, "parser": "sysbench-cpu"}
        config = {"repetitions": 1, "warmup": 0, "cell_timeout": 120,
                  "runtimes": {r: {"driver": r} for r in ("process", "native", "docker")},
                  "workloads": {"host": cpu, "image": {**cpu, "image": tag,
                                                        "runtimes": ["native", "docker"]}}}
        path = folder / "reference.yaml"
        path.write_text(yaml.safe_dump(config))
        found: dict[str, list[float]] = defaultdict(list)
        try:
            for index in range(rounds):
                found["host sysbench"].append(host_events(seconds))
                for (runtime, workload), value in bench_events(path, folder / f"r{index}").items():
                    found[f"{runtime}/{workload}"].append(value)
        finally:
            subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)
    medians = {name: statistics.median(values) for name, values in found.items()}
    for name, value in medians.items():
        print(f"{name:18} median {value:9.1f} events/s over {len(found[name])} rounds: "
              f"{', '.join(f'{v:.0f}' for v in found[name])}")
    for label, top, bottom in [("process / host", "process/host", "host sysbench"),
                               ("native / process", "native/host", "process/host"),
                               ("docker / process", "docker/host", "process/host"),
                               ("native image / host tree", "native/image", "native/host"),
                               ("docker image / host tree", "docker/image", "docker/host")]:
        print(f"{label:26} {medians[top] / medians[bottom]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5,
                  int(sys.argv[2]) if len(sys.argv) > 2 else 5))
