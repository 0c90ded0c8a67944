"""The images bench builds from its cache, in docker and podman: `bench-workload` (a
workload's tree and the probe) and `bench-probe` (the probe alone).

Their labels say what they were built from (runtimes.docker.image: `bench.probe`, the
probe's hash; `bench.tree`, the tree's digest), which is how a live run's ledger claims
them. Each engine is asked at its default endpoint; an engine that is not there is named
and passed over.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.cache.ledger import Ledger
from foundation.errors import BenchError
from runtimes.docker.image import IMAGE_LABEL, REPOSITORY, WORKLOAD_REPOSITORY
from runtimes.host.tools import run_tool

REPOSITORIES = (WORKLOAD_REPOSITORY, REPOSITORY)
TREE_LABEL = "bench.tree"
PODMAN_PREFIX = "localhost/"
PODMAN_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Image:
    engine: str  # docker or podman
    reference: str  # repository:tag
    image_id: str
    created: float  # epoch seconds: an image's age is its build time
    size: int
    tree: str | None
    probe: str | None


def ours(reference: str) -> bool:
    return reference.removeprefix(PODMAN_PREFIX).partition(":")[0] in REPOSITORIES


def image_of(engine: str, reference: str, found: dict[str, Any]) -> Image:
    labels = found.get("Labels") or {}
    created = found.get("Created")
    return Image(engine, reference, str(found.get("Id") or "?"),
                 float(created) if isinstance(created, int | float) else 0.0,
                 int(found.get("Size") or 0), labels.get(TREE_LABEL), labels.get(IMAGE_LABEL))


def on_docker(action: str, call: Callable[[Any], Any]) -> tuple[Any, str | None]:
    """One call to the local dockerd: its result, or why there is none (one line)."""
    from runtimes.docker.engine import connect, engine_step

    try:
        api = connect(None)
    except BenchError as error:
        return None, f"docker: {error}"
    try:
        with engine_step(action):
            return call(api), None
    except BenchError as error:
        return None, str(error)
    finally:
        api.close()


def docker_images() -> tuple[list[Image], str | None]:
    """bench's images in the local dockerd, or why there are none to see."""
    listed, problem = on_docker("list bench's images",
                                lambda api: api.images(filters={"reference": list(REPOSITORIES)}))
    return [image_of("docker", tag, item) for item in listed or []
            for tag in item.get("RepoTags") or [] if ours(tag)], problem


def podman_images() -> tuple[list[Image], str | None]:
    """bench's images in podman's store (as root), or why there are none to see."""
    try:
        done = run_tool(["podman", "images", "--format", "json"], "list podman images",
                        PODMAN_TIMEOUT_S)
        listed = json.loads(done.stdout or "[]")
    except (BenchError, ValueError) as error:
        return [], f"podman: {error}"
    return [image_of("podman", name, item) for item in listed if isinstance(item, dict)
            for name in item.get("Names") or [] if ours(name)], None


def all_images() -> tuple[list[Image], list[str]]:
    """bench's images in every engine here, and a line for each engine that did not answer."""
    images: list[Image] = []
    problems: list[str] = []
    for lister in (docker_images, podman_images):
        found, problem = lister()
        images += found
        problems += [problem] if problem else []
    return images, problems


def image_user(image: Image, live: Sequence[Ledger]) -> str | None:
    """The live run whose tree and probe the image was built from, or None; an image
    without bench's labels is in use while any run is live."""
    for ledger in live:
        same_probe = image.probe is not None and image.probe == ledger.probe_digest
        if same_probe and (image.tree is None or image.tree in ledger.trees):
            return f"run {ledger.run_id}"
    if image.probe is None and live:
        return f"{len(live)} live run(s) may use it"
    return None


def remove_image(image: Image) -> str | None:
    """Untag (and so delete, when it was the last tag) an image; why not, when it could not
    be (a container still uses it: nothing is forced)."""
    if image.engine == "podman":
        try:
            run_tool(["podman", "rmi", image.reference], f"remove image {image.reference}",
                     PODMAN_TIMEOUT_S)
        except BenchError as error:
            return str(error)
        return None
    return on_docker(f"remove image {image.reference}",
                     lambda api: api.remove_image(image.reference))[1]
