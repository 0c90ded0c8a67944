"""Guest disks as image files on the host: a workload's tree as a read-only ext4 disk, and
a cell's scratch storage as an empty ext4 disk; both made by mkfs.ext4 straight into a
regular file (`-d` copies a directory in), so no loop device is ever mounted on the host.

The ext4 is made without metadata checksums: the guest kernel would need crc32c, a module
the probe would have to load first, and a checksum is not what a disk benchmark measures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import BuildError
from runtimes.base import log
from runtimes.commands import CacheMode, Tree

MKFS = "mkfs.ext4"
FEATURES = "^metadata_csum,^64bit"
MiB = 1 << 20


@dataclass(frozen=True)
class Disk:
    """A raw image file on the host as a guest's virtio-blk disk (vda, vdb... in this order)."""

    path: Path
    target: str
    readonly: bool = False
    cache: CacheMode | None = None  # None: the hypervisor's default


def mkfs(target: Path, size_bytes: int, source: Path | None = None, label: str = "bench") -> None:
    """An ext4 file system of size_bytes in the file target (from source's files, if given)."""
    tool = shutil.which(MKFS) or shutil.which(MKFS, path="/usr/sbin:/sbin")
    if tool is None:
        raise BuildError("mkfs.ext4 is missing: apt-get install e2fsprogs")
    with target.open("wb") as handle:
        handle.truncate(size_bytes)
    argv = [tool, "-q", "-F", "-O", FEATURES, "-L", label, "-E", "root_owner=0:0"]
    argv += ["-d", str(source)] if source is not None else []
    argv.append(str(target))
    log.info("disk: %s", argv)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        target.unlink(missing_ok=True)
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise BuildError(f"mkfs.ext4 for {target} failed: {first}")


def tree_size(root: Path) -> int:
    """Bytes the tree's files take, rounded up per block, plus room for the file system's
    own metadata (inode tables, journal): what its disk needs."""
    total, count = 0, 0
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            count += 1
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not os.path.islink(path):
                total += -(-os.path.getsize(path) // 4096) * 4096
    return total + count * 4096 + total // 5 + 64 * MiB


def tree_disk(tree: Tree, cache_dir: Path) -> Path:
    """The tree as a read-only guest disk, in the cache under the tree's digest."""
    target = cache_dir / "disks" / f"tree-{tree.digest}.ext4"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        mkfs(partial, tree_size(tree.root), tree.root, label="bench-tree")
        partial.rename(target)  # atomic: a concurrent run never boots half a disk
    finally:
        partial.unlink(missing_ok=True)
    return target


def scratch_disk(target: Path, size_bytes: int) -> Path:
    """A cell's empty scratch disk; sparse, so only what the workload writes takes space."""
    mkfs(target, size_bytes, label="bench-scratch")
    return target
