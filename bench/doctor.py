"""Host checks (`bench doctor`), driver availability (`bench runtimes`) and `bench clean`."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.drivers import driver_class, known_drivers
from bench.fingerprint import cgroup_version
from runtimes.errors import BenchError


def availability() -> list[tuple[str, str | None]]:
    """(driver, reason it is unavailable or None) for every registered driver."""
    result = []
    for name in known_drivers():
        try:
            reason = driver_class(name).unavailable_reason()
        except BenchError as error:
            reason = str(error)
        result.append((name, reason))
    return result


def print_runtimes(console: Console) -> None:
    table = Table(title="runtime drivers", title_justify="left")
    table.add_column("driver")
    table.add_column("available")
    table.add_column("why not")
    for name, reason in availability():
        table.add_row(name, "no" if reason else "yes", reason or "")
    console.print(table)


def hardware_virtualization() -> str:
    flags = Path("/proc/cpuinfo").read_text()
    has_flag = " vmx" in flags or " svm" in flags
    kvm = Path("/dev/kvm").exists()
    if has_flag and kvm:
        return "kvm available (vmx/svm and /dev/kvm)"
    if kvm:
        return "tcg: /dev/kvm exists but the CPU shows neither vmx nor svm"
    return "tcg: no /dev/kvm"


def checks() -> list[tuple[str, bool, str]]:
    namespaces = Path("/proc/self/ns")
    wanted = ["pid", "mnt", "uts", "ipc", "net"]
    missing = [ns for ns in wanted if not (namespaces / ns).exists()]
    cc = shutil.which("cc") or shutil.which("gcc")
    return [
        ("root", os.geteuid() == 0, "running as root" if os.geteuid() == 0 else "not root: "
         "native, docker and libvirt need root"),
        ("cgroups", True, cgroup_version()),
        ("namespaces", not missing, "pid mnt uts ipc net" if not missing else f"missing {missing}"),
        ("compiler", cc is not None, cc or "no C compiler: apt-get install gcc libc6-dev"),
        ("accel", True, hardware_virtualization()),
    ]


def print_doctor(console: Console) -> int:
    table = Table(title="host checks", title_justify="left")
    for column in ("check", "ok", "detail"):
        table.add_column(column)
    problems = 0
    for name, ok, detail in checks():
        problems += not ok
        table.add_row(name, "yes" if ok else "NO", detail)
    for name, reason in availability():
        table.add_row(f"driver {name}", "no" if reason else "yes", reason or "available")
    console.print(table)
    return 1 if problems else 0


def clean_leftovers(run_id: str | None, dry_run: bool) -> list[str]:
    """Every driver's leftovers (host processes first), then the runs' scratch directories."""
    found: list[str] = []
    for name, reason in sorted(availability(), key=lambda item: item[0] != "process"):
        if reason is None:
            found += driver_class(name).clean(run_id, dry_run)
    # the runner's scratch directories: bench-<run id>-<random>
    pattern = re.compile(rf"bench-{re.escape(run_id) if run_id else '[0-9a-f]{6}'}-\w+")
    for folder in sorted(Path(tempfile.gettempdir()).glob("bench-*")):
        if pattern.fullmatch(folder.name) and folder.is_dir():
            if not dry_run:
                shutil.rmtree(folder, ignore_errors=True)
            found.append(f"temp dir {folder}")
    return found
