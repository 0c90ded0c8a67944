"""The host fingerprint recorded with every run: what decides whether two runs compare."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import bench
from bench.tick import TICK_S


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cgroup_version(root: Path = Path("/sys/fs/cgroup")) -> str:
    if (root / "cgroup.controllers").exists():
        return "v2"
    if (root / "unified" / "cgroup.controllers").exists():
        return "v1 (hybrid)"
    return "v1"


def mitigations() -> dict[str, str]:
    folder = Path("/sys/devices/system/cpu/vulnerabilities")
    if not folder.is_dir():
        return {}
    return {item.name: item.read_text().strip() for item in sorted(folder.iterdir())}


def git_commit(folder: Path) -> str | None:
    """HEAD of the git checkout holding `folder` (with +dirty), or None outside one."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def git_branch(folder: Path) -> str | None:
    """The branch checked out where `folder` is (None outside git or on a detached HEAD)."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "--abbrev-ref", "HEAD"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    branch = head.stdout.strip()
    return branch if head.returncode == 0 and branch and branch != "HEAD" else None


BUILD_COMMIT = "build_commit.txt"  # in a wheel `bench fleet run` built: its checkout's commit


def built_commit() -> str | None:
    """The commit of the checkout a wheel was built from, where bench runs from that wheel."""
    try:
        return (Path(bench.__file__).parent / BUILD_COMMIT).read_text().strip() or None
    except OSError:
        return None


def host_fingerprint() -> dict[str, Any]:
    uname = os.uname()
    return {
        "hostname": uname.nodename,
        "kernel": uname.release,
        "kernel_version": uname.version,
        "arch": uname.machine,
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "cgroup_version": cgroup_version(),
        "tick_ms": TICK_S * 1000,  # each start begins at a random phase of it (bench/tick.py)
        "mitigations": mitigations(),
        "python": platform.python_version(),
        "bench_version": bench.__version__,
        "bench_commit": git_commit(Path(bench.__file__).parent) or built_commit(),
    }
