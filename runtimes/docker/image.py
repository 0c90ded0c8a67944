"""The probe packaged as a Docker image: FROM scratch, /probe, nothing else; built locally.

No registry is involved: the build context (a Dockerfile and the probe) is a tar made in
memory and sent through the Engine API with pull=False. The tag carries the probe's
content hash, so an unchanged probe reuses the image and a changed one gets a new tag.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

from runtimes.docker.engine import first_line
from runtimes.errors import BuildError

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
    """Build through the API; the build's own error line becomes a one-line BuildError."""
    from docker.errors import APIError

    try:
        for step in api.build(fileobj=build_context(probe), custom_context=True, tag=tag,
                              pull=False, rm=True, forcerm=True, decode=True,
                              labels={IMAGE_LABEL: probe_digest(probe)}):
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

