"""A Docker image holding sysbench and nothing else, for the workload tests and the workload
benchmark (an image workload whose program is the same binary the host runs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def build_sysbench_image(tmp_path: Path) -> str:
    """FROM scratch: sysbench and what `ldd` says it loads."""
    context = tmp_path / "image"
    program = str(shutil.which("sysbench"))
    listed = subprocess.run(["ldd", program], capture_output=True, text=True, timeout=30).stdout
    paths = [program] + [part for line in listed.splitlines() for part in line.split()
                         if part.startswith("/")]
    for path in paths:
        target = context / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    (context / "Dockerfile").write_text('FROM scratch\nCOPY . /\nENV PATH=/usr/bin:/bin\n')
    tag = f"bench-test-sysbench:{tmp_path.name[-12:].lower()}"
    build = subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], capture_output=True,
                           text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    return tag
