"""Cold and warm docker starts from the run's registry on loopback (runtimes.host.registry).

The image is the one bench builds for the probe (or a command workload's host tree): FROM
scratch, the files in one layer, plus /.bench-run holding the runtime's resource name, so
that no other image on the host shares its layer. dockerd keeps a layer while any image
uses it and skips it in a pull ("Already exists"): without the marker, a "cold" pull of the
probe would download nothing, because bench's own bench-probe image holds the same layer.
It is built, pushed to the registry and removed before the first cell, outside every
measurement.

A cold start removes the image (outside the clock), pulls it through the Engine API and
stamps each progress event on arrival (host monotonic clock):

- `pull.manifest`: from the pull request to the first layer's "Pulling fs layer": the API
  call, the registry's /v2/ check and the manifest fetched, so the engine knows the layers;
- `pull.layers`: to the last layer's download seen over: every layer blob fetched and
  verified. That is its "Download complete", or, where the stream skipped it, the first event
  of the layer after it ("Extracting", "Pull complete"): dockerd's transfer keeps only its
  latest progress for the client's stream (distribution/xfer, `lastProgress`), so a
  "Download complete" soon followed by "Extracting" is sometimes never sent. The stamp is
  then an upper bound, late by the time to the layer's next event;
- `pull.unpack`: to the last "Pull complete": every layer extracted and registered;
- `pull.image`: to the end of the stream: the image's config stored and the tag set.

They add up to `pull.total`; boot.* starts after it, as for a warm start. A pull that finds
a layer already present was not cold, and fails the start saying so.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from foundation.errors import InstanceError
from runtimes.commands import Tree
from runtimes.docker.engine import engine_step, first_line
from runtimes.docker.image import build_from, image_metadata, tree_context

PHASES = ("manifest", "layers", "unpack", "image")
PRESENT = ("Already exists",)
PHASE_OF = {"Pulling fs layer": "manifest", "Pull complete": "unpack"}
# a layer's download is over at its "Download complete", or at its first event after it where
# the stream skipped that (see above)
DOWNLOADED = ("Download complete", "Extracting", "Pull complete")


def split_reference(reference: str) -> tuple[str, str]:
    """repository, tag of 127.0.0.1:PORT/name:tag (the port's colon is not the tag's)."""
    repository, _, tag = reference.rpartition(":")
    return repository, tag


def publish(api: Any, reference: str, probe: Path, marker: bytes, tree: Tree | None,
            labels: dict[str, str]) -> dict[str, Any]:
    """Build the marked image under `reference`, push it to the registry, remove it here;
    what `docker image inspect` said of it before it went."""
    with tree_context(tree, probe, marker) as context:
        build_from(api, context, reference, labels)
    with engine_step(f"inspect image {reference}"):
        metadata = image_metadata(api, reference)
    repository, tag = split_reference(reference)
    with engine_step(f"push {reference}"):
        for event in api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise InstanceError(f"docker could not push {reference}: "
                                    f"{first_line(str(event['error']))}")
    remove_image(api, reference)
    return metadata


def remove_image(api: Any, reference: str) -> bool:
    """Remove the image if it is here (True if it was); one a container uses is an error."""
    from docker.errors import APIError, NotFound

    with engine_step(f"remove image {reference}"):
        try:
            api.remove_image(reference, noprune=False)
        except NotFound:
            return False
        except APIError as error:
            if error.status_code == 409:
                raise InstanceError(f"image {reference} is in use by another container of this "
                                    "runtime: a cold start needs the image absent (one "
                                    "instance at a time)") from error
            raise
    return True


def timed_pull(api: Any, reference: str) -> dict[str, float]:
    """Pull the image; ms per phase (manifest, layers, unpack, image), in time order."""
    repository, tag = split_reference(reference)
    asked = time.monotonic_ns()
    stamps: dict[str, int] = {}
    downloaded: dict[str, int] = {}  # layer id -> when its download was seen over
    with engine_step(f"pull {reference}"):
        for event in api.pull(repository, tag=tag, stream=True, decode=True):
            now = time.monotonic_ns()
            status = str(event.get("status", ""))
            if "error" in event:
                raise InstanceError(f"docker could not pull {reference}: "
                                    f"{first_line(str(event['error']))}")
            if status in PRESENT:
                raise InstanceError(f"the pull of {reference} found layer {event.get('id')} "
                                    "already here: not a cold start")
            if status in DOWNLOADED:
                downloaded.setdefault(str(event.get("id", "")), now)
            phase = PHASE_OF.get(status)
            if phase == "manifest":
                stamps.setdefault(phase, now)
            elif phase is not None:
                stamps[phase] = now
    if downloaded:
        stamps["layers"] = max(downloaded.values())
    stamps["image"] = time.monotonic_ns()
    return phases_of(asked, stamps, reference)


def phases_of(asked: int, stamps: dict[str, int], what: str) -> dict[str, float]:
    """Consecutive phases (ms) from the request through the stamps, in PHASES' order."""
    missing = [phase for phase in PHASES if phase not in stamps]
    if missing:
        raise InstanceError(f"the pull of {what} never reported {', '.join(missing)}")
    phases, previous = {}, asked
    for phase in PHASES:
        phases[phase] = (stamps[phase] - previous) / 1e6
        previous = stamps[phase]
    return phases
