"""Whole `bench run`s on hostile tool output and values (issue 20, points 1 and 2): each bad
cell fails with its reason, the run goes on to the next cell and ends `complete`, and every
reader reads what it wrote. The commands print what a broken or hostile tool would (through
printf, packaged from the host like any program), on the process runtime.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.results.records import read_lines

pytestmark = pytest.mark.integration
DIGITS = "9" * 400


def printing(parser: str, text: str, **more: Any) -> dict[str, Any]:
    """A command workload whose command prints `text` (printf %b: \\n is a newline)."""
    return {"mode": "command", "argv": ["printf", "%b", text], "parser": parser, "timeout": 30,
            **more}


HOSTILE = {
    "sb-digits": (printing("sysbench-cpu", f"events per second: {DIGITS}\\n"), "not a number"),
    "sb-dots": (printing("sysbench-cpu", "events per second: 1.2.3\\n"), "not a number"),
    "fio-nan": (printing("fio", '{"jobs": [{"read": {"io_bytes": 1, "iops": NaN, '
                                '"bw_bytes": 1}}]}\\n'), "NaN is not a number JSON allows"),
    "fio-huge": (printing("fio", '{"jobs": [{"read": {"io_bytes": 1, "iops": 1e999, '
                                 '"bw_bytes": 1}}]}\\n'), "not a finite number"),
    "fio-jobs": (printing("fio", '{"jobs": [1]}\\n'), "a fio job is not an object"),
    "redis-nan": (printing("redis-benchmark", '"SET","nan"\\n'), "not a number"),
    "stress-inf": (printing("stress-ng", "---\\nmetrics:\\n  - stressor: cpu\\n"
                                         "    bogo-ops-per-second-real-time: .inf\\n"),
                   "not a finite number"),
    "stress-key": (printing("stress-ng", "---\\nmetrics:\\n  - stressor: cpu\\n"
                                         "    bogo-ops: 5\\n"), "not a number \\(got None\\)"),
    "iperf-abc": (printing("iperf3", '{"end": {"sum_received": {"bits_per_second": "abc"}}}'
                                     "\\n"), "not a number"),
    "regex-minus": (printing("duration", "took -3 s\\n", metrics=[
        {"name": "took", "regex": r"took (\S+) s", "unit": "s", "direction": "lower"}]),
                    "cannot be negative"),
}
GOOD = printing("sysbench-cpu", "events per second: 812.50\\n")


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=900)


def test_hostile_output_fails_its_cell_and_the_run_goes_on(tmp_path: Path) -> None:
    workloads = {name: workload for name, (workload, _) in HOSTILE.items()} | {"good": GOOD}
    config = {"repetitions": 1, "warmup": 0, "runtimes": {"p": {"driver": "process"}},
              "workloads": workloads}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    run = bench("run", str(path), "-o", str(out), "--store", "none")
    assert run.returncode == 3, run.stderr  # cells failed; the run itself did not
    assert "Traceback" not in run.stderr
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    cells = {c["key"]: c for c in read_lines(out, "cells.jsonl")}
    assert set(cells) == {f"p/{name}/0" for name in workloads}
    assert cells["p/good/0"]["status"] == "ok"
    for name, (_, message) in HOSTILE.items():
        cell = cells[f"p/{name}/0"]
        assert cell["status"] == "failed", name
        assert re.search(message, cell["reason"]), (name, cell["reason"])
    summary = bench("summary", str(out), "--json")
    assert summary.returncode == 0 and "broke bench's rules" not in summary.stderr
    rows = {(r["workload"], r["metric"]): r for r in json.loads(summary.stdout)}
    assert rows[("good", "workload.events_per_s")]["median"] == 812.5
    assert rows[("sb-digits", "workload.events_per_s")]["failed"] == 1


def test_a_declared_unit_bench_does_not_know_is_refused_before_the_run(tmp_path: Path) -> None:
    for unit, shown in (("furlongs", "'furlongs' is not a unit bench knows"), (None, "required")):
        metric = {"name": "took", "regex": r"took (\S+)", "direction": "lower"}
        config = {"runtimes": {"p": {"driver": "process"}},
                  "workloads": {"w": printing("duration", "took 1\\n", metrics=[
                      {**metric, **({"unit": unit} if unit else {})}])}}
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(config))
        run = bench("run", str(path), "-o", str(tmp_path / "out"), "--store", "none")
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith(f"bench: {path}: workloads.w.metrics.0.unit: {shown}")
        assert len(run.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()
