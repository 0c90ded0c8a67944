"""A driver needs nothing but the documented surface: the example driver runs end to end.

It starts real processes (the compiled probe under `nice`), so this is the proof that the
contract and the helpers runtimes/base.py lists are enough to write a runtime.
"""

from __future__ import annotations

import ast
from pathlib import Path

from bench.config import parse_config
from bench.drivers import DriverRegistry
from bench.plan import make_plan
from bench.results.manifest import Manifest, RunConfig
from bench.results.run import load_run
from bench.results.summary import summary_rows
from bench.results.writer import RunWriter
from bench.runner import Runner
from bench.workload.bundle import build_bundle
from tests.unit.example_driver import NiceDriver, NiceOptions

DOCUMENTED = ("runtimes.base", "runtimes.instance", "foundation.errors", "foundation.models",
              "runtimes.protocol", "runtimes.host", "runtimes.guest")


def test_the_example_imports_only_the_documented_surface() -> None:
    tree = ast.parse(Path(__file__).with_name("example_driver.py").read_text())
    ours = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and node.module and node.module.split(".")[0] in {"bench", "runtimes", "reports"}]
    assert ours and all(module.startswith(DOCUMENTED) for module in ours), ours


def test_the_example_driver_runs_through_the_runner(tmp_path: Path) -> None:
    registry = DriverRegistry({"nice": NiceDriver})  # a third party's driver beside ours
    config = parse_config({
        "repetitions": 2, "warmup": 0, "settle": 0, "cell_timeout": 20,
        "runtimes": {"process": {"driver": "process"},
                     "niced": {"driver": "nice", "options": {"niceness": 5}}},
        "workloads": {"idle": {"mode": "ready"},
                      "sys": {"mode": "syscall", "batches": 3, "calls": 200, "warmup": 1}}},
                          registry=registry)
    assert config.runtimes["niced"].options == NiceOptions(niceness=5)
    store = RunWriter.create(tmp_path / "r", Manifest(
        run_id="e1e1e1", config=RunConfig(config.model_dump(mode="json"))))
    bundle = build_bundle(tmp_path / "cache")
    failed = Runner(config, store, bundle, "e1e1e1", tmp_path / "cache", registry=registry).run(
        make_plan(config), lambda c, e: None, lambda n: None)
    store.close()
    assert failed == 0
    rows = {(r["runtime"], r["metric"]) for r in summary_rows(load_run(store.path))
            if r["n"]}
    for metric in ("boot.total", "boot.spawn", "memory.host_pss", "memory.overhead",
                   "syscall.getppid", "stop.total"):
        assert ("niced", metric) in rows
    assert NiceDriver.clean(NiceOptions(), "e1e1e1", dry_run=True) == []
