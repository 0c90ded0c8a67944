"""The probe packaged as a Docker image: FROM scratch, /probe, nothing else; built locally.
A command workload's image is its tree plus the probe (FROM scratch), or, for a workload
from a local image, that image plus the probe.

No registry is involved: the build context (a Dockerfile and the probe) is a tar made in
memory and sent through the Engine API with pull=False. The tag carries the probe's
content hash, so an unchanged probe reuses the image and a changed one gets a new tag.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from foundation.errors import BuildError
from runtimes.commands import Tree
from runtimes.docker.engine import first_line

REPOSITORY = "bench-probe"
DOCKERFILE = b'FROM scratch\nCOPY probe /probe\nENTRYPOINT ["/probe"]\n'
IMAGE_LABEL = "bench.probe"  # the probe's hash, so `docker images -f label=bench.probe` finds them


def image_tag(probe: Path) -> str:
    """bench-probe:<first 16 hex digits of the probe's sha256>."""
    return f"{REPOSITORY}:{probe_digest(probe)}"


def probe_digest(probe: Path) -> str:
    return hashlib.sha256(probe.read_bytes()).hexdigest()[:16]


def build_context(probe: Path) -> io.BytesIO:
    """A tar holding the Dockerfile and the probe (mode 0755), ready to send as the context."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add(tar, "Dockerfile", DOCKERFILE, 0o644)
        _add(tar, "probe", probe.read_bytes(), 0o755)
    buffer.seek(0)
    return buffer


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def ensure_image(api: Any, probe: Path) -> str:
    """The probe's image tag, building the image only when no image has that tag yet."""
    from docker.errors import ImageNotFound

    tag = image_tag(probe)
    try:
        api.inspect_image(tag)
        return tag
    except ImageNotFound:
        pass
    build_image(api, probe, tag)
    return tag


def build_image(api: Any, probe: Path, tag: str) -> None:
    """Build the probe's image through the API."""
    build_from(api, build_context(probe), tag, {IMAGE_LABEL: probe_digest(probe)})


def build_from(api: Any, context: Any, tag: str, labels: dict[str, str]) -> None:
    """Build a context (a tar) through the API, never pulling; the build's own error line
    becomes a one-line BuildError."""
    from docker.errors import APIError

    try:
        for step in api.build(fileobj=context, custom_context=True, tag=tag, pull=False,
                              rm=True, forcerm=True, decode=True, labels=labels):
            if "error" in step:
                raise BuildError(f"building image {tag} failed: {first_line(step['error'])}")
    except APIError as error:
        raise BuildError(f"building image {tag} failed: "
                         f"{first_line(str(error.explanation or error))}") from error


def image_metadata(api: Any, tag: str) -> dict[str, Any]:
    """What `docker image inspect` shows of the image that ran: id, tags, size, env, cmd."""
    image: dict[str, Any] = api.inspect_image(tag)
    config = image.get("Config") or {}
    return {"Id": image.get("Id"), "RepoTags": image.get("RepoTags"), "Size": image.get("Size"),
            "Env": config.get("Env"), "Cmd": config.get("Cmd"),
            "Entrypoint": config.get("Entrypoint")}



# --- command workloads: an image per tree -------------------------------------------------

WORKLOAD_REPOSITORY = "bench-workload"
TREE_DOCKERFILE = b'FROM scratch\nCOPY rootfs/ /\nENTRYPOINT ["/probe"]\n'


def workload_tag(tree: Tree, probe: Path) -> str:
    """bench-workload:<hash of the tree's digest (or the image's id) and the probe's>."""
    key = f"{tree.digest} {tree.image_id or ''} {probe_digest(probe)}".encode()
    return f"{WORKLOAD_REPOSITORY}:{hashlib.sha256(key).hexdigest()[:16]}"


def tree_context(tree: Tree | None, probe: Path, marker: bytes | None = None) -> io.BytesIO | Any:
    """A host tree (or none: the probe alone): FROM scratch, the tree's files and the probe,
    in one layer, with `marker` as /.bench-run when given (a layer no other image shares).
    An image's tree: FROM the image itself (by id, never pulled), plus the probe."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the caller)
    with tarfile.open(fileobj=spool, mode="w") as tar:
        if tree is None or tree.image_id is None:
            _add(tar, "Dockerfile", TREE_DOCKERFILE, 0o644)
            if tree is not None:
                tar.add(tree.root, arcname="rootfs", recursive=True)
            _add(tar, "rootfs/probe", probe.read_bytes(), 0o755)
            if marker is not None:
                _add(tar, "rootfs/.bench-run", marker, 0o644)
        else:
            dockerfile = f'FROM {tree.image_id}\nCOPY probe /probe\nENTRYPOINT ["/probe"]\nCMD []\n'
            _add(tar, "Dockerfile", dockerfile.encode(), 0o644)
            _add(tar, "probe", probe.read_bytes(), 0o755)
    spool.seek(0)
    return spool


def ensure_tree_image(api: Any, tree: Tree, probe: Path) -> str:
    """The workload's image tag, built from its tree only when no image has that tag yet."""
    from docker.errors import ImageNotFound

    tag = workload_tag(tree, probe)
    try:
        api.inspect_image(tag)
        return tag
    except ImageNotFound:
        pass
    with tree_context(tree, probe) as context:
        build_from(api, context, tag, {IMAGE_LABEL: probe_digest(probe), "bench.tree": tree.digest})
    return tag
