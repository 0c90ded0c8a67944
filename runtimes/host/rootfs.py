"""The root filesystems of the runtimes that run in a directory (native, oci, lxc).

The probe's rootfs (make_rootfs) is the same for all of them, so native, the OCI runtimes
(runc, crun, runsc) and LXC start the same bytes from the same tree and differ only in how
they isolate it: the probe and empty mount points, made once per run in the run's work
directory and mounted read-only by every runtime (nothing an instance does lands in it).
A command workload's rootfs (assemble_rootfs) is its tree's files hard-linked (copied
across filesystems) into a fresh directory, plus the probe and the same mount points; the
tree in the cache is never written: a hard link shares the file's data, not a way to
change the cached tree's names.

Mount points: /proc and /tmp (every runtime mounts them), /dev (runc, crun and LXC mount a
tmpfs there and create their default device nodes inside it; without the directory they
would create it, and the device nodes, in the shared tree before making it read-only) and
/.oldroot (where the native launcher parks the old root during pivot_root).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from foundation.errors import BuildError
from runtimes.base import log

MOUNT_POINTS = ("proc", "tmp", "dev", ".oldroot")
PROBE = "probe"


def make_rootfs(target: Path, probe: Path, extra_files: Mapping[str, Path] | None = None) -> Path:
    """A fresh rootfs at target: /probe (plus extra_files, by name), executable, and the
    empty mount points; whatever was at target before is replaced."""
    return assemble_rootfs(None, target, {PROBE: probe, **(extra_files or {})}, MOUNT_POINTS)


def probe_argv(args: list[str]) -> list[str]:
    """What runs inside a rootfs: the probe by its absolute path (the syscall timings use
    it), then its mode and arguments."""
    return [f"/{PROBE}", *args]


def link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def assemble_rootfs(tree: Path | None, target: Path, files: Mapping[str, Path | bytes],
                    dirs: Iterable[str] = (), empty_files: Iterable[str] = ()) -> Path:
    """target/ = tree (none: an empty directory) + `files` (path in the rootfs -> host file
    or bytes, mode 0755) + empty `dirs` and `empty_files` (mount points). Made anew;
    returns target."""
    log.info("rootfs: %s from %s", target, tree or "nothing")
    try:
        if target.exists():
            shutil.rmtree(target)
        if tree is None:
            target.mkdir(parents=True)
        else:
            shutil.copytree(tree, target, symlinks=True, copy_function=link_or_copy)
        target.chmod(0o755)
        for name in dirs:
            (target / name).mkdir(parents=True, exist_ok=True, mode=0o755)
        for name in empty_files:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).touch(mode=0o644)
        for name, content in files.items():
            where = target / name
            where.parent.mkdir(parents=True, exist_ok=True)
            where.unlink(missing_ok=True)
            if isinstance(content, bytes):
                where.write_bytes(content)
            else:
                shutil.copyfile(content, where)
            where.chmod(0o755)
    except OSError as error:
        raise BuildError(f"cannot make the rootfs {target}: {error}") from error
    return target
