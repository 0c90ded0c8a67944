"""The build cache's entries, their size and last use, and which a live run is using.

An entry is one thing a run may reuse: a workload tree (trees/<digest>), a guest disk made
of one (disks/tree-<digest>.ext4), the probe (probe-<key>), a driver's launcher or an
initramfs. Its last use is its modification time: a run touches the trees and probe it
uses when it starts (bench.cache.ledger). Hidden names are builds under way and are left
alone.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.cache.ledger import LEDGERS, Ledger

NESTED = ("trees", "disks")  # folders whose children are the entries
DISK_PREFIX, DISK_SUFFIX = "tree-", ".ext4"


@dataclass(frozen=True)
class Entry:
    kind: str  # tree, disk, probe, initramfs, build
    name: str  # its path in the cache
    path: Path
    size: int  # bytes, counted without following links
    used: float  # last use: epoch seconds
    digest: str | None  # the tree a tree or disk holds


def cache_entries(cache_dir: Path) -> list[Entry]:
    """Every entry of the cache, in name order (none when there is no cache)."""
    found: list[Entry] = []
    for child in visible_children(cache_dir):
        if child.name == LEDGERS:
            continue
        if child.name in NESTED and child.is_dir() and not child.is_symlink():
            found += [entry_of(cache_dir, item) for item in visible_children(child)]
        else:
            found.append(entry_of(cache_dir, child))
    return found


def visible_children(folder: Path) -> list[Path]:
    try:
        return sorted(child for child in folder.iterdir() if not child.name.startswith("."))
    except OSError:
        return []


def entry_of(cache_dir: Path, path: Path) -> Entry:
    name = str(path.relative_to(cache_dir))
    kind, digest = kind_of(path)
    info = os.lstat(path)
    return Entry(kind, name, path, size_of(path), info.st_mtime, digest)


def kind_of(path: Path) -> tuple[str, str | None]:
    if path.parent.name == "trees":
        return "tree", path.name
    if path.parent.name == "disks" and path.name.startswith(DISK_PREFIX):
        return "disk", path.name.removeprefix(DISK_PREFIX).removesuffix(DISK_SUFFIX)
    for kind in ("probe", "initramfs"):
        if path.name.startswith(f"{kind}-"):
            return kind, None
    return "build", None


def size_of(path: Path) -> int:
    """Bytes on disk under `path` (links counted as themselves, never followed)."""
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        return info.st_size
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def user_of(entry: Entry, live: Sequence[Ledger]) -> str | None:
    """Why the entry is in use (the live run that names it), or None when it is not. What
    no ledger can name (a launcher, an initramfs) is in use while any run is live."""
    for ledger in live:
        if entry.digest is not None and entry.digest in ledger.trees:
            return f"run {ledger.run_id}"
        if ledger.probe is not None and Path(ledger.probe) == entry.path:
            return f"run {ledger.run_id}"
    if entry.kind not in ("tree", "disk", "probe") and live:
        return f"{len(live)} live run(s) may use it"
    return None


def remove_entry(entry: Entry) -> None:
    """The entry, gone (a folder with everything in it; a link as itself). OSError if not."""
    if entry.path.is_dir() and not entry.path.is_symlink():
        shutil.rmtree(entry.path)
    else:
        entry.path.unlink()
