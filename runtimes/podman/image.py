"""The probe's image for podman: built from the very context the docker driver sends dockerd
(runtimes/docker/image.py: FROM scratch, /probe), under the same content-addressed tag.

podman builds with buildah, in process, from a directory: the context tar is unpacked into
the run's work directory and built with no pull and no network. An image with the tag is
reused, so an unchanged probe is built once per host.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from foundation.errors import BuildError, InstanceError
from runtimes.docker.image import IMAGE_LABEL, build_context, image_tag, probe_digest
from runtimes.host.tools import run_tool

BUILD_TIMEOUT_S = 300.0
LOCAL = "localhost/"  # where podman files an image built here


def ensure_image(podman: list[str], probe: Path, scratch: Path) -> str:
    """The probe image's full name, built only when podman has no image with that tag."""
    tag = LOCAL + image_tag(probe)
    if run_tool([*podman, "image", "exists", tag], f"look up image {tag}", check=False).returncode == 0:
        return tag
    context = scratch / "podman-image-context"
    context.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=build_context(probe)) as tar:
        tar.extractall(context, filter="data")
    try:
        run_tool([*podman, "build", "--pull=never", "--network=none", "--label",
                  f"{IMAGE_LABEL}={probe_digest(probe)}", "--tag", tag, str(context)],
                 f"build image {tag}", BUILD_TIMEOUT_S)
    except InstanceError as error:
        raise BuildError(str(error)) from error
    return tag


def image_metadata(podman: list[str], tag: str) -> dict[str, Any]:
    """What `podman image inspect` shows of the image that ran: id, names, size, command."""
    done = run_tool([*podman, "image", "inspect", tag], f"inspect image {tag}")
    image = (json.loads(done.stdout) or [{}])[0]
    config = image.get("Config") or {}
    return {"Id": image.get("Id"), "RepoTags": image.get("RepoTags"), "Size": image.get("Size"),
            "Entrypoint": config.get("Entrypoint"), "Cmd": config.get("Cmd")}
