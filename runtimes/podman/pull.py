"""Cold and warm podman starts from the run's registry on loopback (runtimes.host.registry).

The image is the docker driver's marked probe image (runtimes/docker/pull.py: the probe and
/.bench-run in one layer no other image shares), built by podman from the same context,
pushed with --tls-verify=false (the registry is plain http on 127.0.0.1) and removed, before
the first cell. A cold start removes it (outside the clock) and runs `podman pull`, whose
progress lines (stderr, one per step when it is not a terminal) are stamped on arrival:

- `pull.manifest`: from the request to "Getting image source signatures": podman's own
  start, the name resolved and the manifest fetched;
- `pull.layers_and_unpack`: to "Copying config": every layer blob fetched, decompressed and
  applied to podman's storage. containers/image does these in one stream, so podman's
  download and unpack cannot be timed apart (docker's pull.layers and pull.unpack can);
- `pull.image`: to podman's exit: the config, manifest and signatures stored, the image
  recorded and named.

They add up to `pull.total`.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from pathlib import Path

from foundation.errors import InstanceError
from runtimes.base import log
from runtimes.docker.image import tree_context
from runtimes.host.tools import run_tool
from runtimes.instance import StampedLines

TLS_OFF = "--tls-verify=false"  # the registry is plain http on 127.0.0.1
PULL_TIMEOUT_S = 120.0
PRESENT = "skipped: already exists"
STEPS = (("manifest", "Getting image source signatures"),
         ("layers_and_unpack", "Copying config"))


def publish(podman: list[str], reference: str, probe: Path, marker: bytes, scratch: Path,
            labels: dict[str, str]) -> None:
    """Build the marked probe image under `reference`, push it, and remove it here."""
    context = scratch / f"context-{marker.decode().strip()}"
    context.mkdir(parents=True, exist_ok=True)
    with tree_context(None, probe, marker) as spool, tarfile.open(fileobj=spool) as tar:
        tar.extractall(context, filter="data")
    label_args = [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]
    run_tool([*podman, "build", "--pull=never", "--network=none", *label_args, "--tag",
              reference, str(context)], f"build image {reference}", PULL_TIMEOUT_S)
    run_tool([*podman, "push", TLS_OFF, reference], f"push {reference}", PULL_TIMEOUT_S)
    remove_image(podman, reference)


def remove_image(podman: list[str], reference: str) -> None:
    """Remove the image if it is here; one a container uses is an error saying so."""
    if run_tool([*podman, "image", "exists", reference], f"look up image {reference}",
                check=False).returncode != 0:
        return
    done = run_tool([*podman, "rmi", reference], f"remove image {reference}", check=False)
    if done.returncode != 0:
        raise InstanceError(f"podman could not remove image {reference} (in use by another "
                            "container of this runtime? a cold start needs it absent, one "
                            f"instance at a time): {done.stderr.strip()[-300:]}")


def timed_pull(podman: list[str], reference: str) -> dict[str, float]:
    """`podman pull`, its progress lines stamped as they arrive; ms per phase."""
    argv = [*podman, "pull", TLS_OFF, reference]
    log.info("run %s", argv)
    asked = time.monotonic_ns()
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
    except OSError as error:
        raise InstanceError(f"could not pull {reference}: cannot run podman: "
                            f"{error.strerror}") from error
    lines = StampedLines()
    stderr = process.stderr
    if not isinstance(stderr, io.BufferedReader):  # what Popen gives for stderr=PIPE
        process.kill()
        process.wait()
        raise InstanceError(f"could not pull {reference}: no pipe from podman")
    lines.follow(lambda: iter(lambda: stderr.read1(65536), b""), "podman pull")
    try:
        status = process.wait(PULL_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        process.kill()
        process.wait()
        raise InstanceError(f"podman pull {reference} did not end within "
                            f"{PULL_TIMEOUT_S:g} s") from error
    ended = time.monotonic_ns()
    lines.wait_closed(ended + int(5e9))
    if status != 0:
        raise InstanceError(f"could not pull {reference}: {(lines.tail(1) or ('',))[0][:300]}")
    return phases_of(asked, lines, ended, reference)


def phases_of(asked: int, lines: StampedLines, ended: int, reference: str) -> dict[str, float]:
    if any(PRESENT in line for line in lines.text()):
        raise InstanceError(f"the pull of {reference} found a layer already here: not a cold start")
    phases, previous = {}, asked
    for phase, prefix in STEPS:
        found = lines.find(prefix)
        if found is None:
            raise InstanceError(f"podman pull {reference} never said {prefix!r}")
        phases[phase] = (found[0] - previous) / 1e6
        previous = found[0]
    phases["image"] = (ended - previous) / 1e6
    return phases
