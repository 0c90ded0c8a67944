"""bench as a wheel, built on the controller from the source tree it runs from: hosts need no
index access for bench itself, and every host runs exactly the controller's code.

The packages are copied to a scratch folder and built there (no build/ or egg-info left in
the checkout), without build isolation and without an index (setuptools as installed).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import bench
from bench.fingerprint import BUILD_COMMIT
from foundation.errors import BuildError, FleetError

PACKAGES = ("foundation", "bench", "runtimes", "reports")
FILES = ("pyproject.toml", "README.md")
HOST_SETUP = Path(".ci") / "host-setup"
TIMEOUT = 300.0


def source_tree() -> Path:
    """The checkout bench runs from (it holds pyproject.toml and .ci/host-setup)."""
    root = Path(bench.__file__).resolve().parent.parent
    missing = [name for name in (*FILES, str(HOST_SETUP)) if not (root / name).is_file()]
    if missing:
        raise FleetError("wheel", f"bench runs from {root}, which is not its source tree "
                                  f"({', '.join(missing)} missing): run bench fleet from a "
                                  "checkout of bench, which it builds and sends to each host")
    return root


def build_wheel(source: Path, scratch: Path, commit: str | None) -> Path:
    """The wheel of `source`'s packages, built in `scratch`, carrying `commit` (the checkout's,
    which the runs on the hosts record as bench's commit); its path."""
    tree = scratch / "source"
    for package in PACKAGES:
        shutil.copytree(source / package, tree / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", BUILD_COMMIT))
    for name in FILES:
        shutil.copy(source / name, tree / name)
    if commit:
        (tree / "bench" / BUILD_COMMIT).write_text(f"{commit}\n")
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir",
            str(scratch / "dist"), str(tree)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"building bench's wheel took over {TIMEOUT:.0f} s") from None
    wheels = sorted((scratch / "dist").glob("bench-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise BuildError(f"building bench's wheel failed ({done.returncode}): "
                         f"{done.stderr.strip()[-500:]}")
    return wheels[0]
