"""The gate on a host it was not calibrated on, then calibrated on it: issue 21's measurement.

    python3 -m tests.benchmarks.gate_aa OUT [SITTINGS]      (from a clean checkout, as root)

runs SITTINGS (default 11) back-to-back sittings of configs/ci-gate.yaml into OUT/s1..., each
recorded into the store OUT/history.sqlite, the load average noted before and after each, then:

1. after the first three sittings, the three A/A gates between them, as a new host sees them
   (the shipped calibration is of another host kind): each must exit 0, or 2 with the
   one-line message;
2. `bench calibrate --history` from the store (those three sittings: one commit), and the
   same three gates with it (in-sample: they show the mechanism, not the rate); then the
   other sittings;
3. `bench calibrate` on the last eight sittings: the false-fail rate over their 56 ordered
   pairs, each pair gated with a calibration from the other six only, and the smallest
   change each row catches in 90 % of the pairs;
4. a synthetic +30 % getppid regression (every runtime's syscall.getppid figures of the last
   sitting scaled by 1.3) gated against the sitting before it, with the calibration of all
   sittings from the store: it must fail.

Every command and its exit status is printed; nothing is asserted (a loaded machine makes
numbers, not verdicts). Run it on a quiet machine of the kind CI uses, from a checkout with
no uncommitted change (the store groups sittings by commit and leaves `+dirty` runs out).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = "configs/ci-gate.yaml"
RUN_TIMEOUT_S = 3600
BENCH = [sys.executable, "-m", "bench.cli"]


def load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def bench(*argv: str, timeout: float = 600) -> int:
    print(f"$ bench {' '.join(argv)}", flush=True)
    done = subprocess.run([*BENCH, *argv], timeout=timeout, check=False)
    print(f"exit {done.returncode}", flush=True)
    return done.returncode


def sittings(out: Path, first: int, last: int) -> list[Path]:
    store = str(out / "history.sqlite")
    found = []
    for index in range(first, last + 1):
        path = out / f"s{index}"
        print(f"load before s{index}: {load()}", flush=True)
        bench("run", CONFIG, "-o", str(path), "--store", store, timeout=RUN_TIMEOUT_S)
        found.append(path)
    print(f"load after s{last}: {load()}", flush=True)
    return found


def three_gates(runs: list[Path], *extra: str) -> list[int]:
    pairs = ((0, 1), (1, 2), (0, 2))
    return [bench("gate", "--baseline", str(runs[a]), "--candidate", str(runs[b]), *extra)
            for a, b in pairs]


def regression(runs: list[Path], calibration: Path) -> str:
    """The gate's verdict on the last sitting with every syscall.getppid row scaled by 1.3."""
    from bench.gate.aa import scaled
    from bench.gate.calibration import for_host, read
    from bench.gate.evaluate import exit_code, gate_config_of, gate_runs
    from bench.gate.rules import GateConfig
    from bench.results.run import load_run

    baseline, candidate = load_run(runs[-2]), load_run(runs[-1])
    for key in [k for k in candidate.series if k[2] == "syscall.getppid"]:
        candidate = scaled(candidate, key, 1.3)
    chosen = for_host(read(calibration), candidate.manifest)
    config = gate_config_of(candidate.manifest) or GateConfig()
    result = gate_runs(candidate, baseline, config, calibration=chosen)
    failed = sorted(f"{e.runtime}/{e.metric}" for e in result.evaluations if e.verdict == "fail")
    return f"exit {exit_code(result)}; failing rows: {', '.join(failed) or 'none'}"


def main(out: Path, count: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    runs = sittings(out, 1, 3)
    store = str(out / "history.sqlite")
    print("1. three A/A gates, no calibration of this host kind:", three_gates(runs))
    first = out / "calibration-first3.json"
    bench("calibrate", "--history", str(runs[2]), "--store", store, "-o", str(first))
    print("2. the same gates, calibrated from the store (these three sittings):",
          three_gates(runs, "--calibration", str(first)))
    runs += sittings(out, 4, count)
    measured = out / "calibration-last8.json"
    print("3. the last eight sittings, held out pair by pair:")
    bench("calibrate", *map(str, runs[-8:]), "-o", str(measured), timeout=3600)
    everything = out / "calibration-all.json"
    bench("calibrate", "--history", str(runs[-1]), "--store", store, "-o", str(everything))
    print("4. +30 % getppid, calibrated from every sitting:", regression(runs, everything))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 11)
