"""The layers are contracts (pyproject.toml, [tool.importlinter]) that CI checks with lint-imports.

These tests prove the contracts can fail: a back-arrow planted in a copy of the tree breaks
them, and every orchestration module of bench/ is named in them, so a new module cannot
slip past.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("foundation", "bench", "runtimes", "reports")
# bench/ modules that every layer may use, or that are layers of their own
NOT_ORCHESTRATION = {"__init__", "errors", "export"}


def contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return found


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import "
                           "lint_imports_command; sys.exit(lint_imports_command())"],
                          cwd=tree, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, importable from its own folder."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("runtimes.base", "import bench.runner", "never imports bench or reports"),
    ("reports.figures", "import runtimes.docker.driver", "reports/ reads the results layer only"),
    ("bench.results.estimates", "import bench.config", "the results layer imports nothing above it"),
    ("bench.gate.output", "import reports.html", "the gate, the history store and export"),
    ("bench.gate.output", "import plotly", "the gate, the history store and export"),
    ("runtimes.host.memory", "import runtimes.process.driver", "no import cycle"),
    ("bench.running", "import bench.commands.run", "nothing imports it but bench.cli"),
    ("bench.gate.gating", "from bench.commands import arguments", "nothing imports it but bench.cli"),
    ("reports.trend", "import bench.commands.trend", "nothing imports it but bench.cli"),
    ("bench.cli", "import bench.commands.gate", "which imports only its registry"),
])
def test_a_back_arrow_breaks_the_contract_that_names_it(tree: Path, module: str, line: str,
                                                         contract: str) -> None:
    plant(tree, module, line)
    result = lint_imports(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in " ".join(broken.split()), result.stdout[-3000:]


def test_every_orchestration_module_is_named_in_the_contracts() -> None:
    """A new module in bench/ must be added to the forbidden lists of the lower layers."""
    modules = {f"bench.{p.stem}" for p in (ROOT / "bench").glob("*.py")
               if p.stem not in NOT_ORCHESTRATION}
    modules |= {f"bench.{p.name}" for p in (ROOT / "bench").iterdir()
                if p.is_dir() and (p / "__init__.py").exists()
                and p.name not in {"results", "gate", "history"}}
    for contract in contracts():
        if contract["id"] in {"results-layer", "readers", "reports-read-results"}:
            forbidden = set(contract["forbidden_modules"])  # type: ignore[call-overload]
            assert modules <= forbidden, f"{contract['id']} misses {sorted(modules - forbidden)}"
