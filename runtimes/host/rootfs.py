"""A root filesystem made from a command workload's tree, for runtimes that run in a
directory (native, and the oci and lxc drivers): the tree's files hard-linked (copied
across filesystems) into a fresh directory, plus the probe and what the runtime mounts on.

The tree in the cache is never written: a runtime mounts its rootfs read-only, and a
hard link shares the file's data, not a way to change the cached tree's names.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from runtimes.base import log
from runtimes.errors import BuildError


def link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def assemble_rootfs(tree: Path, target: Path, files: Mapping[str, Path | bytes],
                    dirs: Iterable[str] = (), empty_files: Iterable[str] = ()) -> Path:
    """target/ = tree + `files` (path in the rootfs -> host file or bytes, mode 0755) + empty
    `dirs` and `empty_files` (mount points). Made anew; returns target."""
    log.info("rootfs: %s from %s", target, tree)
    try:
        if target.exists():
            shutil.rmtree(target)
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
