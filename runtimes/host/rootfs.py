"""The root filesystem every directory-rootfs runtime gets: the probe and empty mount points.

One function makes it, so the native runtime, the OCI runtimes (runc, crun, runsc) and
LXC start the same bytes from the same tree and differ only in how they isolate it. It
is made once per run in the run's work directory and mounted read-only by every runtime:
nothing an instance does lands in it.

Mount points: /proc and /tmp (every runtime mounts them), /dev (runc, crun and LXC mount
a tmpfs there and create their default device nodes inside it; without the directory
they would create it, and the device nodes, in this shared tree before making it
read-only) and /.oldroot (where the native launcher parks the old root during
pivot_root).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

MOUNT_POINTS = ("proc", "tmp", "dev", ".oldroot")
PROBE = "probe"


def make_rootfs(target: Path, probe: Path, extra_files: Mapping[str, Path] | None = None) -> Path:
    """A fresh rootfs at target: /probe (plus extra_files, by name), executable, and the
    empty mount points; whatever was at target before is replaced."""
    if target.exists():
        shutil.rmtree(target)
    for directory in MOUNT_POINTS:
        (target / directory).mkdir(parents=True, mode=0o755)
    target.chmod(0o755)
    for name, source in {PROBE: probe, **(extra_files or {})}.items():
        placed = target / name
        shutil.copyfile(source, placed)
        placed.chmod(0o755)
    return target


def probe_argv(args: list[str]) -> list[str]:
    """What runs inside a rootfs: the probe by its absolute path (the syscall timings use
    it), then its mode and arguments."""
    return [f"/{PROBE}", *args]
