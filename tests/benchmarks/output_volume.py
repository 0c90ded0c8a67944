"""A command that prints a lot (`seq 1 N`) on the process runtime: the harness's wall time
and peak memory, and the workload.duration it records, for one or more checkouts of bench,
interleaved round by round in one sitting; beside them the same program alone, timed by
`hyperfine -N` (its output to /dev/null, and through a pipe to cat), and each checkout's
probe supervising it with its stream going to a file (no harness reading it).

Issue 20 point 5 measured 11.8 s and 280 MiB for 1M lines, 33 s and 502 MiB for 2M, and a
workload.duration of 29.2 s for 2M lines against 1.5 s for the program alone.

Run (the checkout before a change beside this one, e.g. a `git worktree add /tmp/before main`):
    python3 tests/benchmarks/output_volume.py --checkout /tmp/before --checkout . \\
        --lines 1000000 2000000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml


def config(folder: Path, lines: int) -> Path:
    path = folder / f"seq-{lines}.yaml"
    path.write_text(yaml.safe_dump({
        "repetitions": 1, "warmup": 0, "settle": 0, "cell_timeout": 600,
        "runtimes": {"process": {"driver": "process"}},
        "workloads": {"seq": {"mode": "command", "argv": ["seq", "1", str(lines)],
                              "timeout": 600}}}))
    return path


def one_run(checkout: Path, lines: int, folder: Path) -> dict[str, float]:
    """bench run of `seq 1 lines` from this checkout under /usr/bin/time: wall s, peak KiB."""
    out = Path(tempfile.mkdtemp(dir=folder))
    timed = subprocess.run(["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "bench.cli",
                            "run", str(config(folder, lines)), "-o", str(out / "r"),
                            "--store", "none"], cwd=checkout, capture_output=True, text=True,
                           timeout=1800)
    wall, peak_kib = timed.stderr.strip().splitlines()[-1].split()
    samples = [json.loads(line) for line in (out / "r" / "samples.jsonl").read_text().splitlines()]
    duration = next((s["value"] for s in samples if s["metric"] == "workload.duration"), None)
    return {"wall_s": float(wall), "peak_mib": int(peak_kib) / 1024,
            "duration_s": float("nan") if duration is None else float(duration),
            "exit": timed.returncode}


def alone(command: str, runs: int = 5) -> float:
    """The median wall time of a command by itself (hyperfine -N, output to /dev/null)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        subprocess.run(["hyperfine", "-N", "--runs", str(runs), "--export-json", report.name,
                        command], capture_output=True, check=True, timeout=600)
        return float(json.loads(Path(report.name).read_text())["results"][0]["median"])


def probe_of(checkout: Path) -> str:
    """The checkout's probe, compiled into bench's cache as a run would."""
    found = subprocess.run([sys.executable, "-c", "from bench.cache import default_cache_dir;"
                            "from bench.workload.bundle import build_bundle;"
                            "print(build_bundle(default_cache_dir()).probe)"],
                           cwd=checkout, capture_output=True, text=True, check=True, timeout=300)
    return found.stdout.strip()


def probe_alone(probe: str, lines: int, folder: Path) -> float:
    """workload.duration as the probe measures it with no harness reading it: its stream
    goes to a file."""
    target = folder / "probe-alone.txt"
    with open(target, "wb") as stream:
        subprocess.run([probe, "command", "idle=0", "--", "arg=seq", "arg=1", f"arg={lines}",
                        "env=PATH=/usr/bin:/bin"], stdout=stream, stdin=subprocess.DEVNULL,
                       check=False, timeout=600)
    with open(target, "rb") as stream:
        report = next(line for line in stream if line.startswith(b"BENCH-COMMAND "))
    fields = dict(item.split(b"=", 1) for item in report.split()[1:])
    return int(fields[b"wall_ns"]) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", action="append", required=True, type=Path)
    parser.add_argument("--lines", nargs="+", type=int, default=[1_000_000, 2_000_000])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {}
    probes = {checkout: probe_of(checkout.resolve()) for checkout in args.checkout}
    with tempfile.TemporaryDirectory(prefix="output-volume-") as scratch:
        for round_number in range(args.rounds):
            for lines in args.lines:
                order = args.checkout if round_number % 2 == 0 else args.checkout[::-1]
                for checkout in order:
                    key = f"{checkout} {lines}"
                    results.setdefault(key, []).append(one_run(checkout.resolve(), lines,
                                                               Path(scratch)))
                results.setdefault(f"seq alone {lines}", []).append(
                    {"duration_s": alone(f"seq 1 {lines}")})
                results.setdefault(f"seq | cat {lines}", []).append(
                    {"duration_s": alone(f"sh -c 'seq 1 {lines} | cat'")})
                for checkout in order:
                    results.setdefault(f"{checkout} probe alone {lines}", []).append(
                        {"duration_s": probe_alone(probes[checkout], lines, Path(scratch))})
    print(f"load average {os.getloadavg()}")
    for key, runs in results.items():
        medians = {field: statistics.median(run[field] for run in runs) for field in runs[0]}
        print(key, json.dumps(medians), f"({len(runs)} runs)")


if __name__ == "__main__":
    main()
