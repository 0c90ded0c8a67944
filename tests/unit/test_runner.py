"""The runner and collectors against a fake driver: what is stored, failures, warm-up, overhead."""

from __future__ import annotations

import json
from pathlib import Path

from bench.config import parse_config
from bench.drivers import DriverRegistry
from bench.plan import make_plan
from bench.results.manifest import Manifest, RunConfig, read_manifest
from bench.results.records import read_lines
from bench.results.run import load_run
from bench.results.summary import summary_rows
from bench.results.writer import RunWriter
from bench.runner import Runner
from bench.workload.bundle import Bundle
from tests.unit.fake_driver import FakeDriver

REGISTRY = DriverRegistry({"fake": FakeDriver})  # beside the installed drivers


def run(tmp_path: Path, runtimes: dict[str, object], reps: int = 3) -> tuple[Path, int]:
    config = parse_config({"repetitions": reps, "baseline": "process", "warmup": 1, "settle": 0,
                           "cell_timeout": 2,
                           "runtimes": runtimes,
                           "workloads": {"idle": {"mode": "ready"},
                                         "sys": {"mode": "syscall"}}}, registry=REGISTRY)
    cells = make_plan(config)
    store = RunWriter.create(tmp_path / "r", Manifest(config=RunConfig(config.model_dump(mode="json"))))
    bundle = Bundle(probe=tmp_path / "probe", digest="0")
    failed = Runner(config, store, bundle, "abc", tmp_path, registry=REGISTRY).run(
        cells, lambda c, e: None, lambda n: None)
    store.close()
    return tmp_path / "r", failed


def test_samples_cells_and_manifest(tmp_path: Path) -> None:
    path, failed = run(tmp_path, {"process": {"driver": "fake", "options": {"pss": 1000}},
                                  "box": {"driver": "fake", "options": {"pss": 5000}}})
    assert failed == 0
    assert read_manifest(path).status == "complete"
    cells = read_lines(path, "cells.jsonl")
    assert len(cells) == 2 * 2 * 3  # warm-up cells are not recorded
    rows = {(r["runtime"], r["workload"], r["metric"]): r for r in summary_rows(load_run(path))}
    assert rows[("box", "sys", "syscall.getppid")]["n"] == 3  # instances
    assert rows[("box", "sys", "syscall.getppid")]["samples"] == 9  # their batches
    assert rows[("box", "sys", "syscall.getppid")]["median"] == 101.5
    assert rows[("box", "idle", "memory.overhead")]["median"] == 4000
    assert rows[("process", "idle", "memory.overhead")]["median"] == 0
    assert rows[("box", "idle", "boot.create")]["n"] == 3
    assert rows[("box", "idle", "stop.total")]["n"] == 3  # teardown is timed too
    assert not FakeDriver.live, "every instance was torn down"


def test_failed_cells_are_recorded_with_reason_and_the_run_goes_on(tmp_path: Path) -> None:
    path, failed = run(tmp_path, {"process": {"driver": "fake"},
                                  "flaky": {"driver": "fake", "options": {"fail_every": 2}}})
    assert failed > 0
    records = [json.loads(x) for x in (path / "samples.jsonl").read_text().splitlines()]
    failures = [r for r in records if r["status"] == "failed"]
    assert failures and all(r["value"] is None for r in failures)
    assert all(r["reason"] == "fake launch failure" for r in failures)
    assert any(r["runtime"] == "flaky" and r["status"] == "ok" for r in records)
    assert not FakeDriver.live


def test_hung_instance_times_out_and_is_torn_down(tmp_path: Path) -> None:
    path, failed = run(tmp_path, {"process": {"driver": "fake"},
                                  "hung": {"driver": "fake", "options": {"hang": True}}}, reps=1)
    assert failed == 2
    reasons = {c["reason"] for c in read_lines(path, "cells.jsonl") if c["status"] == "failed"}
    assert reasons == {"hung instance did not print BENCH-READY before the cell timeout"}
    assert not FakeDriver.live
