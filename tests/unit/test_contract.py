"""The driver contract and the runner's failure handling, against fake drivers.

- a teardown that raises keeps the cell's other samples and records a failed stop.total;
- an error that ends a run leaves the manifest `failed` with its reason;
- driver options are validated once, at the config edge, into the driver's typed model;
- errors carry fields (the exit cause), not only text;
- the run log records each cell and a failed cell's reason points at its lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bench.runner
from bench.config import Config, parse_config
from bench.drivers import DriverRegistry
from bench.plan import make_plan
from bench.results.manifest import Manifest, RunConfig, read_manifest
from bench.results.records import read_lines
from bench.results.writer import RunWriter
from bench.runlog import LOG_NAME, run_log
from bench.runner import Runner
from bench.workload.bundle import Bundle
from foundation.errors import ConfigError, ExitCause, InstanceError
from runtimes.base import RunContext
from runtimes.instance import Instance
from tests.unit.fake_driver import FakeDriver, FakeOptions


class BrokenPrepare(FakeDriver):
    def prepare(self, probe: Path) -> None:
        raise RuntimeError("a bug in prepare")


# the fakes, beside the installed drivers, handed to the config and the runner
REGISTRY = DriverRegistry({"fake": FakeDriver, "broken": BrokenPrepare})


def config_of(runtimes: dict[str, Any]) -> dict[str, Any]:
    return {"repetitions": 2, "warmup": 0, "settle": 0, "cell_timeout": 2, "runtimes": runtimes,
            "workloads": {"idle": {"mode": "ready"}}}


def parse_config_of(runtimes: dict[str, Any]) -> Config:
    return parse_config(config_of(runtimes), registry=REGISTRY)


def run(tmp_path: Path, runtimes: dict[str, Any], with_log: bool = False) -> Path:
    config = parse_config_of(runtimes)
    store = RunWriter.create(tmp_path / "r", Manifest(
        run_id="abc", config=RunConfig(config.model_dump(mode="json"))))
    bundle = Bundle(probe=tmp_path / "probe", digest="0")
    try:
        if with_log:
            with run_log(store.path) as log:
                Runner(config, store, bundle, "abc", tmp_path, log, registry=REGISTRY).run(
                    make_plan(config), lambda c, e: None, lambda n: None)
        else:
            Runner(config, store, bundle, "abc", tmp_path, registry=REGISTRY).run(
                make_plan(config), lambda c, e: None, lambda n: None)
    finally:
        store.close()
    return store.path


def test_a_failed_teardown_keeps_the_cells_samples_and_records_the_failed_stop(
        tmp_path: Path) -> None:
    path = run(tmp_path, {"process": {"driver": "fake", "options": {"teardown_fails": True}}})
    samples = read_lines(path, "samples.jsonl")
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        by_metric.setdefault(sample["metric"], []).append(sample)
    assert len(by_metric["boot.total"]) == 2 and all(s["status"] == "ok"
                                                      for s in by_metric["boot.total"])
    assert len(by_metric["memory.host_pss"]) == 2
    stops = by_metric["stop.total"]
    assert [s["status"] for s in stops] == ["failed", "failed"]
    assert all("fake teardown of bench-abc-process-" in s["reason"] for s in stops)
    cells = read_lines(path, "cells.jsonl")
    assert [c["status"] for c in cells] == ["failed", "failed"]
    assert all(c["reason"].startswith("teardown failed") for c in cells)


def test_a_failed_start_whose_teardown_fails_too_raises_the_start_error(tmp_path: Path) -> None:
    options = FakeOptions(fail_every=1, teardown_fails=True)
    driver = FakeDriver("box", options, RunContext("r", tmp_path, tmp_path))
    with pytest.raises(InstanceError, match="fake launch failure"):
        driver.start(bench.runner.probe_command(parse_config_of(
            {"p": {"driver": "fake"}}).workloads["idle"], 1), 10**18)


def test_an_error_that_ends_the_run_leaves_the_manifest_failed_with_the_reason(
        tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="a bug in prepare"):
        run(tmp_path, {"process": {"driver": "broken"}})
    manifest = read_manifest(tmp_path / "r")
    assert manifest.status == "failed"
    assert manifest.reason == "a bug in prepare"


def test_options_are_validated_once_into_the_drivers_typed_model(tmp_path: Path) -> None:
    config = parse_config_of({"p": {"driver": "fake", "options": {"pss": 7}}})
    options = config.runtimes["p"].options
    assert isinstance(options, FakeOptions) and options.pss == 7
    assert config.model_dump(mode="json")["runtimes"]["p"]["options"]["pss"] == 7
    with pytest.raises(ConfigError, match=r"runtimes\.p\.options\.pss: input should be a valid"):
        parse_config_of({"p": {"driver": "fake", "options": {"pss": "many"}}})
    with pytest.raises(TypeError, match="FakeDriver takes FakeOptions"):
        FakeDriver("p", {"pss": 7}, RunContext("r", tmp_path, tmp_path))  # type: ignore[arg-type]


@pytest.mark.parametrize(("cause", "sentence"), [
    (ExitCause(oom=True, limit="the cgroup's 32 MiB limit"),
     "out-of-memory (killed at the cgroup's 32 MiB limit)"),
    (ExitCause.from_wait_status(-11), "killed by signal SIGSEGV"),
    (ExitCause.from_wait_status(137), "exited with status 137 (signal SIGKILL)"),
    (ExitCause.from_wait_status(3), "exited with status 3"),
])
def test_errors_carry_the_exit_cause_as_fields(cause: ExitCause, sentence: str) -> None:
    error = InstanceError("ended before printing BENCH-READY", tail=("", "last words"))
    explained = error.with_cause(cause)
    assert explained.cause == cause and explained.message == error.message
    assert explained.__cause__ is error
    assert str(explained) == f"{sentence}: ended before printing BENCH-READY (last output: " \
                             "last words)"


def test_the_driver_explains_an_early_exit_before_teardown(tmp_path: Path) -> None:
    class Crashing(FakeDriver):
        def exit_cause(self, instance: Instance[str]) -> ExitCause | None:
            return ExitCause(signal=9)

    driver = Crashing("box", FakeOptions(fail_every=1), RunContext("r", tmp_path, tmp_path))
    with pytest.raises(InstanceError) as caught:
        driver.start(bench.runner.probe_command(parse_config_of(
            {"p": {"driver": "fake"}}).workloads["idle"], 1), 10**18)
    assert caught.value.cause == ExitCause(signal=9)
    assert str(caught.value) == "killed by signal SIGKILL: fake launch failure"


def test_the_run_log_records_each_cell_and_a_failure_points_at_its_lines(tmp_path: Path) -> None:
    path = run(tmp_path, {"process": {"driver": "fake"},
                          "flaky": {"driver": "fake", "options": {"fail_every": 1}}},
               with_log=True)
    lines = (path / LOG_NAME).read_text().splitlines()
    assert any("cell 0 process/idle/0: start" in line for line in lines)
    assert all(" mono=" in line for line in lines if line[:4].isdigit())
    failures = [json.loads(x) for x in (path / "samples.jsonl").read_text().splitlines()
                if '"failed"' in x]
    assert failures
    for failure in failures:
        number = int(failure["reason"].rsplit("run.log from line ", 1)[1].rstrip(")"))
        assert "flaky/idle" in lines[number - 1] and "start" in lines[number - 1]
