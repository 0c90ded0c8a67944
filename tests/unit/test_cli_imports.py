"""A command imports what it needs: `bench history list` neither the runner nor scipy, and
`bench gate` not plotly or pandas (the report's), nor pydantic unless it has rules to read.
Each check runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.report_fixtures import ALL, write_results


def modules_after(*argv: str) -> set[str]:
    code = ("import sys\nfrom bench.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit:\n    pass\nprint('\\n'.join(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          check=True, timeout=60)
    return set(done.stdout.split())


@pytest.mark.parametrize(("argv", "absent"), [
    (("history", "list", "--help"), ("bench.running", "bench.runner", "scipy", "pydantic")),
    (("gate", "--help"), ("plotly", "pandas", "scipy", "bench.runner")),
    (("trend", "--help"), ("plotly", "bench.runner")),
])
def test_a_command_imports_only_its_own_module(argv: tuple[str, ...],
                                               absent: tuple[str, ...]) -> None:
    loaded = modules_after(*argv)
    assert not [name for name in absent if name in loaded]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A baseline and a candidate for the gate (written once: the tests only read them)."""
    folder = tmp_path_factory.mktemp("runs")
    return (write_results(folder / "a", runtimes=ALL, seed=1),
            write_results(folder / "b", runtimes=ALL, seed=2))


def test_a_gate_between_two_runs_loads_neither_plotly_nor_pandas_nor_scipy(
        two_runs: tuple[Path, Path]) -> None:
    """The gate reads runs through the numpy-only grouped reader and its own exact tests;
    its default rules are plain dataclasses, so pydantic stays out too."""
    baseline, candidate = two_runs
    loaded = modules_after("gate", "--uncalibrated", "--baseline", str(baseline),
                           "--candidate", str(candidate))
    assert "bench.gate.evaluate" in loaded  # it did gate
    assert not [name for name in ("plotly", "pandas", "scipy", "pydantic") if name in loaded]


def test_a_gate_with_a_rules_file_validates_it(tmp_path: Path,
                                               two_runs: tuple[Path, Path]) -> None:
    """Rules from a file go through pydantic, with the run config's strictness."""
    baseline, candidate = two_runs
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{kind: relative, metric: boot.total, percent: 10}]\n")
    loaded = modules_after("gate", "--uncalibrated", "--baseline", str(baseline),
                           "--candidate", str(candidate), "--rules", str(rules))
    assert {"bench.gate.evaluate", "pydantic"} <= loaded
    rules.write_text("rules: [{kind: relative, metric: boot.total, percent: true}]\n")
    done = subprocess.run([sys.executable, "-m", "bench.cli", "gate", "--uncalibrated", "--baseline",
                           str(baseline), "--candidate", str(candidate), "--rules", str(rules)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "rules.0.percent: expected a number, not true or false" in done.stderr


def test_history_list_loads_no_statistics_and_no_config_models(tmp_path: Path) -> None:
    loaded = modules_after("history", "list", "--store", str(tmp_path / "history.sqlite"))
    assert "bench.history.queries" in loaded  # it did list
    assert not [name for name in ("numpy", "pandas", "scipy", "pydantic", "plotly",
                                  "bench.results.manifest")  # the list reads no manifest
                if name in loaded]


def test_help_lists_every_command() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.cli", "--help"], capture_output=True,
                          text=True, check=True, timeout=60)
    for command in ("run", "gate", "calibrate", "export", "report", "verify", "history",
                    "trend", "summary", "runtimes", "doctor", "clean"):
        assert f"    {command}" in done.stdout
