"""The benchmarks stay out of the default run (they take minutes and want a quiet host), so
nothing else would notice when one stops importing: this collects them, and imports the
script benchmarks, without running any."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
SCRIPTS = sorted(path.stem for path in BENCHMARKS.glob("*.py")
                 if not path.stem.startswith(("test_", "_")) and path.stem != "conftest")


def test_the_pytest_benchmarks_collect() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", str(BENCHMARKS)],
                          capture_output=True, text=True, timeout=120,
                          cwd=BENCHMARKS.parents[1])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = {line.split("::", 1)[0].rsplit("/", 1)[-1] for line in done.stdout.splitlines()
                 if "::" in line}
    files = {path.name for path in BENCHMARKS.glob("test_*.py")}
    assert collected == files, f"no benchmark collected from {sorted(files - collected)}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_script_benchmarks_import(name: str) -> None:
    importlib.import_module(f"tests.benchmarks.{name}")
