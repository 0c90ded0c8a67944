"""A command workload's files from a local Docker image: its flattened filesystem.

Flattened through the Engine API: a container is created from the image (never started,
labelled with the run, removed at once), exported as one tar stream, and unpacked by
hand into the cache, refusing anything that would land outside the tree (an absolute or
`..` path, a member under a symbolic link). The image is never pulled: one that is not
local is an error before anything starts. The tree is named after the image's id (a
content hash of its layers and config).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from bench.workload.tree import TREE_FORMAT, Entry, file_hash, manifest_of, safe_mode
from foundation.errors import BenchError, RuntimeUnavailable, WorkloadError
from runtimes.commands import MOUNT_POINTS, Tree
from runtimes.docker.engine import connect, engine_step, first_line, remove_container
from runtimes.host.labels import RUN_LABEL


@dataclass(frozen=True)
class ImageConfig:
    """What the image says about running it: its command and environment."""

    image_id: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: tuple[str, ...]

    def default_argv(self) -> tuple[str, ...]:
        return self.entrypoint + self.cmd


def inspect(api: Any, image: str, where: str) -> ImageConfig:
    from docker.errors import ImageNotFound

    try:
        found = api.inspect_image(image)
    except ImageNotFound:
        raise WorkloadError(f"{where}: no local Docker image {image!r} (bench never pulls: "
                            "build or load it first)") from None
    config = found.get("Config") or {}
    return ImageConfig(found["Id"], tuple(config.get("Entrypoint") or ()),
                       tuple(config.get("Cmd") or ()), tuple(config.get("Env") or ()))


def member_path(root: Path, name: str) -> Path:
    """Where a tar member goes: inside root, under no symbolic link, or a WorkloadError."""
    parts = [p for p in PurePosixPath(name).parts if p not in ("/", ".")]
    if not parts or ".." in parts:
        raise WorkloadError(f"the image's export has a member outside its root: {name!r}")
    current = root
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise WorkloadError(f"the image's export puts {name!r} under a symbolic link")
        current.mkdir(exist_ok=True, mode=0o755)
    return current / parts[-1]


def unpack(stream: IO[bytes], root: Path) -> None:
    """Regular files, directories, links and hard links; devices and pipes are left out."""
    root.mkdir(parents=True, mode=0o755)
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            target = member_path(root, member.name)
            if member.isdir():
                target.mkdir(exist_ok=True)
                target.chmod(safe_mode(member.mode))
            elif member.issym():
                target.unlink(missing_ok=True)
                os.symlink(member.linkname, target)
            elif member.islnk():
                source = member_path(root, member.linkname)
                if source.is_symlink() or not source.is_file():
                    raise WorkloadError(f"the image's hard link {member.name!r} points at no file")
                target.unlink(missing_ok=True)
                os.link(source, target)
            elif member.isreg():
                extracted = archive.extractfile(member)
                if extracted is None:
                    continue
                with extracted, open(target, "wb") as handle:
                    shutil.copyfileobj(extracted, handle)
                target.chmod(safe_mode(member.mode))
            else:
                continue
            if os.geteuid() == 0:
                os.lchown(target, member.uid, member.gid)


def walk_entries(root: Path) -> list[Entry]:
    """What an unpacked tree holds, for its manifest."""
    entries = []
    for directory, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(directory) / name
            relative = str(path.relative_to(root))
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entries.append(Entry(relative, "link", 0o777, target=os.readlink(path)))
            elif stat.S_ISDIR(info.st_mode):
                entries.append(Entry(relative, "dir", safe_mode(info.st_mode)))
            elif stat.S_ISREG(info.st_mode):
                entries.append(Entry(relative, "file", safe_mode(info.st_mode),
                                     size=info.st_size, sha256=file_hash(str(path))))
    return sorted(entries, key=lambda entry: entry.path)


def export_into(api: Any, image: str, run_id: str, root: Path) -> None:
    name = f"bench-{run_id}-export"
    with engine_step(f"create container {name} to export {image}"):
        created = api.create_container(image, name=name, entrypoint=["/bench-never-started"],
                                       labels={RUN_LABEL: run_id}, network_disabled=True)
    try:
        with tempfile.TemporaryFile() as spool:
            with engine_step(f"export container {name}"):
                for chunk in api.export(created["Id"]):
                    spool.write(chunk)
            spool.seek(0)
            unpack(spool, root)
    finally:
        remove_container(api, created["Id"], name)


def image_tree(image: str, cache_dir: Path, run_id: str,
               where: str) -> tuple[Tree, dict[str, Any], ImageConfig]:
    """The image's flattened tree in the cache (made on first use), its manifest and config."""
    try:
        api = connect(None)
    except RuntimeUnavailable as error:
        raise WorkloadError(f"{where}: an image workload needs dockerd: {error}") from None
    try:
        config = inspect(api, image, where)
        digest = hashlib.sha256(f"bench-image-tree {TREE_FORMAT} {config.image_id}".encode()).hexdigest()[:16]
        home = cache_dir / "trees" / digest
        if not (home / "manifest.json").exists():
            build(api, image, run_id, home, digest, config)
        manifest = json.loads((home / "manifest.json").read_text())
    except BenchError as error:
        if isinstance(error, WorkloadError):
            raise
        raise WorkloadError(f"{where}: cannot flatten image {image!r}: {first_line(str(error))}") from None
    finally:
        api.close()
    return Tree(home / "root", digest, image=image, image_id=config.image_id), manifest, config


def build(api: Any, image: str, run_id: str, home: Path, digest: str, config: ImageConfig) -> None:
    partial = home.with_name(f".{digest}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        export_into(api, image, run_id, partial / "root")
        for point in MOUNT_POINTS:
            (partial / "root" / point).mkdir(exist_ok=True, mode=0o755)
        manifest = manifest_of(walk_entries(partial / "root"), digest=digest, source="image",
                               image=image, image_id=config.image_id)
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        shutil.rmtree(home, ignore_errors=True)
        partial.rename(home)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
