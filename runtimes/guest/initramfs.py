"""The guest's initramfs: the probe as /init, written as a newc cpio archive in pure Python.

A guest booted straight from a kernel needs nothing else: the kernel unpacks the archive
into its rootfs, opens /dev/console for PID 1 and runs /init. The archive is built once
per probe and cached under its content hash, so a run never rebuilds it and no temporary
file is left outside the cache. The archive's bytes depend only on the probe's, so the
cached file is checked against the archive built in memory before a guest boots from it
(a tampered or torn file is replaced), and written through foundation.files (an
exclusively created temporary file, renamed), never through a fixed-name partial file.
"""

from __future__ import annotations

import gzip
import hashlib
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from foundation.files import write_atomic

MAGIC = b"070701"  # newc: ASCII headers, no checksum
TRAILER = "TRAILER!!!"
FORMAT_VERSION = "1"  # bump when the archive's layout changes: it is part of the cache key


@dataclass(frozen=True)
class Entry:
    """One archive member: a directory, a regular file or a device node."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def probe_entries(probe: bytes) -> list[Entry]:
    """The layout the probe expects as PID 1 of a guest."""
    dirs = [Entry(name, stat.S_IFDIR | 0o755) for name in ("dev", "proc", "sys", "tmp")]
    console = Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    files = [Entry(name, stat.S_IFREG | 0o755, probe) for name in ("init", "probe")]
    return [*dirs, console, *files]


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _header(entry: Entry, inode: int) -> bytes:
    name = entry.name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (inode, entry.mode, 0, 0, nlink, 0, len(entry.data), 0, 0,
              entry.rdev[0], entry.rdev[1], len(name), 0)
    head = MAGIC + b"".join(b"%08X" % value for value in fields) + name
    return head + _pad(len(head))


def write_newc(entries: Iterable[Entry]) -> bytes:
    """A newc archive of `entries` (mtimes and owners zeroed: the bytes depend only on content)."""
    parts: list[bytes] = []
    for inode, entry in enumerate(entries, start=1):
        parts += [_header(entry, inode), entry.data, _pad(len(entry.data))]
    parts.append(_header(Entry(TRAILER, 0), 0))
    return b"".join(parts)


def archive_name(probe: bytes, compress: bool) -> str:
    key = hashlib.sha256(FORMAT_VERSION.encode() + b"\0" + probe).hexdigest()[:16]
    return f"initramfs-{key}.cpio" + (".gz" if compress else "")


def build_initramfs(probe: Path, cache_dir: Path, compress: bool = False) -> Path:
    """The cached initramfs for this probe: built in memory (milliseconds), compared with
    the cached file, and (re)written atomically only when that differs or is missing."""
    data = probe.read_bytes()
    target = cache_dir / archive_name(data, compress)
    archive = write_newc(probe_entries(data))
    if compress:
        archive = gzip.compress(archive, compresslevel=6, mtime=0)
    if cached_copy_matches(target, archive):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(target, archive, 0o644)  # a concurrent run never reads half an archive
    return target


def cached_copy_matches(target: Path, archive: bytes) -> bool:
    """Whether the cache holds exactly this archive, as a regular file (not a link)."""
    try:
        found = target.lstat()
        if not stat.S_ISREG(found.st_mode) or found.st_size != len(archive):
            return False
        return target.read_bytes() == archive
    except OSError:
        return False


def with_files(base: list[Entry], files: dict[str, bytes], dirs: Iterable[str]) -> list[Entry]:
    """The probe's layout plus directories and files (parents first, as cpio wants)."""
    entries = list(base)
    have = {entry.name for entry in entries}
    wanted = set(dirs) | {str(Path(name).parent) for name in files if "/" in name}
    for name in sorted(wanted):
        parts = Path(name).parts
        for depth in range(1, len(parts) + 1):
            directory = "/".join(parts[:depth])
            if directory not in have:
                entries.append(Entry(directory, stat.S_IFDIR | 0o755))
                have.add(directory)
    entries += [Entry(name, stat.S_IFREG | 0o644, data) for name, data in sorted(files.items())]
    return entries


def build_initramfs_with(probe: Path, files: dict[str, bytes], dirs: Iterable[str],
                         cache_dir: Path) -> Path:
    """An initramfs of the probe plus more files (kernel modules, command specs), cached
    under the hash of its whole content."""
    archive = write_newc(with_files(probe_entries(probe.read_bytes()), files, dirs))
    key = hashlib.sha256(FORMAT_VERSION.encode() + b"\0" + archive).hexdigest()[:16]
    target = cache_dir / f"initramfs-{key}.cpio"
    if cached_copy_matches(target, archive):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(target, archive, 0o644)  # a concurrent run never reads half an archive
    return target
