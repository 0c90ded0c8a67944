"""A workload's files as one tree: collected from the host, content-addressed, cached.

Every path keeps the shape it has on the host: a symbolic link on the way (Debian's
/lib -> usr/lib, libfoo.so.1 -> libfoo.so.1.2.3) is a link in the tree too, so the
loader, a script or the program itself finds each file by the same path as on the host.
The tree's digest is a hash of every entry (path, kind, mode, link target, content hash);
the tree is made once under the cache's trees/<digest>/ (atomically, by rename) and its
manifest (every file with its size and sha256) is written beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from foundation.errors import WorkloadError
from runtimes.commands import MOUNT_POINTS, Tree

TREE_FORMAT = "1"  # bump when the layout of a tree changes: it is part of the digest
MAX_LINKS = 40  # the kernel's limit on symbolic links followed in one lookup
CHUNK = 1 << 20
Kind = Literal["file", "link", "dir"]


@dataclass(frozen=True)
class Entry:
    """One member of a tree: a regular file (copied from `source`), a link or a directory."""

    path: str  # relative to the tree's root, no leading slash
    kind: Kind
    mode: int = 0o755
    target: str = ""  # a link's target, as on the host
    source: str = ""  # a file's host path
    size: int = 0
    sha256: str = ""

    def key(self) -> str:
        return f"{self.kind} {self.path} {self.mode:o} {self.target} {self.sha256}"


def file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def safe_mode(mode: int) -> int:
    """The permission bits a tree keeps: no setuid or setgid (nothing runs privileged from it)."""
    return stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID)


class Collector:
    """Entries gathered from host paths, each path's symbolic links kept as links."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def add_path(self, path: str, recursive: bool = False) -> None:
        """`path` as the host resolves it: links on the way become links in the tree."""
        if not os.path.isabs(path):
            raise WorkloadError(f"{path}: a workload's files are named by absolute path")
        self._walk(os.path.normpath(path), recursive, 0)

    def _walk(self, path: str, recursive: bool, depth: int) -> None:
        if depth > MAX_LINKS:
            raise WorkloadError(f"{path}: too many levels of symbolic links")
        parts = path.strip("/").split("/")
        current = "/"
        for index, part in enumerate(parts):
            current = os.path.join(current, part)
            try:
                info = os.lstat(current)
            except OSError as error:
                raise WorkloadError(f"{path}: {error.strerror}") from None
            if stat.S_ISLNK(info.st_mode):
                target = os.readlink(current)
                self._add(Entry(current.lstrip("/"), "link", 0o777, target=target))
                resolved = os.path.join(os.path.dirname(current), target)
                rest = parts[index + 1:]
                self._walk(os.path.normpath(os.path.join(resolved, *rest)), recursive, depth + 1)
                return
            if index < len(parts) - 1:
                self._add(Entry(current.lstrip("/"), "dir", safe_mode(info.st_mode)))
        self._leaf(current, recursive)

    def _leaf(self, path: str, recursive: bool) -> None:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode):
            self._add(Entry(path.lstrip("/"), "file", safe_mode(info.st_mode), source=path,
                            size=info.st_size, sha256=file_hash(path)))
        elif stat.S_ISDIR(info.st_mode):
            self._add(Entry(path.lstrip("/"), "dir", safe_mode(info.st_mode)))
            if recursive:
                for child in sorted(os.listdir(path)):
                    self._child(os.path.join(path, child))
        else:
            raise WorkloadError(f"{path}: only regular files, directories and links can be "
                                "packaged (this is a device, socket or pipe)")

    def _child(self, path: str) -> None:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            self._add(Entry(path.lstrip("/"), "link", 0o777, target=os.readlink(path)))
        elif stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
            self._leaf(path, True)
        # devices, sockets and pipes inside a listed directory are left out

    def _add(self, entry: Entry) -> None:
        known = self.entries.get(entry.path)
        if known is not None and known.kind != entry.kind:
            raise WorkloadError(f"/{entry.path} is a {known.kind} and a {entry.kind} at once")
        self.entries.setdefault(entry.path, entry)


def with_mount_points(entries: Iterable[Entry]) -> list[Entry]:
    """The entries plus the empty directories every runtime mounts something on."""
    found = {entry.path: entry for entry in entries}
    for name in MOUNT_POINTS:
        found.setdefault(name, Entry(name, "dir", 0o755))
    return sorted(found.values(), key=lambda entry: entry.path)


def tree_digest(entries: Iterable[Entry]) -> str:
    digest = hashlib.sha256(f"bench-tree {TREE_FORMAT}\n".encode())
    for entry in sorted(entries, key=lambda e: e.path):
        digest.update(entry.key().encode() + b"\n")
    return digest.hexdigest()[:16]


def manifest_of(entries: Iterable[Entry], **about: Any) -> dict[str, Any]:
    """Files, sizes and hashes: what a results directory records of a tree."""
    rows = [{k: v for k, v in asdict(entry).items() if v not in ("", 0) or k == "size"}
            for entry in entries]
    for row in rows:
        row.pop("source", None)
    files = [row for row in rows if row["kind"] == "file"]
    return {**about, "files": len(files), "bytes": sum(int(row["size"]) for row in files),
            "entries": rows}


def materialize(entries: list[Entry], target: Path) -> None:
    """Write the entries under target (which must not exist yet)."""
    target.mkdir(parents=True, mode=0o755)
    for entry in entries:
        where = target / entry.path
        where.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind == "dir":
            where.mkdir(exist_ok=True)
            where.chmod(entry.mode or 0o755)
        elif entry.kind == "link":
            os.symlink(entry.target, where)
        else:
            shutil.copyfile(entry.source, where)
            where.chmod(entry.mode)


def cached_tree(cache_dir: Path, entries: list[Entry], about: dict[str, Any]) -> tuple[Tree, dict[str, Any]]:
    """The tree of these entries in the cache, made now if it is not there yet."""
    digest = tree_digest(entries)
    home = cache_dir / "trees" / digest
    manifest = manifest_of(entries, digest=digest, **about)
    if not (home / "manifest.json").exists():
        partial = home.with_name(f".{digest}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            materialize(entries, partial / "root")
            (partial / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
            shutil.rmtree(home, ignore_errors=True)
            partial.rename(home)  # atomic: a concurrent run never sees half a tree
        except OSError as error:
            raise WorkloadError(f"cannot write the workload tree {home}: {error}") from error
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return Tree(root=home / "root", digest=digest), manifest
