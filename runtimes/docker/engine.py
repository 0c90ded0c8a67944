"""Talking to dockerd: a client whose handshake is a short ping, errors as one line, and the
hijacked attach/exec connection (stdin out, a multiplexed stdout/stderr stream in).

The `docker` library is imported inside the functions, so this module imports without it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from foundation.errors import InstanceError, RuntimeUnavailable
from runtimes.host.labels import RUN_LABEL
from runtimes.host.oci_runtimes import runtime_refusal

log = logging.getLogger("bench.runtimes.docker")

DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"
START_DOCKERD = "dockerd --bridge=none --iptables=false --ip6tables=false &"
PING_TIMEOUT_S = 3.0  # with dockerd down a run must fail within seconds
API_TIMEOUT_S = 60.0


def connect(endpoint: str | None) -> Any:
    """An APIClient for the endpoint; the version handshake doubles as a short-timeout ping."""
    try:
        import docker
    except ImportError as error:
        raise RuntimeUnavailable("the docker SDK for Python is not installed: "
                                 "pip install 'bench[docker]'") from error
    try:
        api = docker.APIClient(base_url=endpoint, timeout=PING_TIMEOUT_S)
    except docker.errors.DockerException as error:
        raise RuntimeUnavailable(daemon_problem(error, endpoint)) from error
    api.timeout = API_TIMEOUT_S
    return api


def daemon_problem(error: BaseException, endpoint: str | None) -> str:
    """One sentence saying why dockerd did not answer, and what to do about it."""
    from requests.exceptions import Timeout

    where = endpoint or DEFAULT_ENDPOINT
    for cause in causes(error):
        if isinstance(cause, PermissionError):
            return (f"no permission on the Docker socket {where}: run bench as root or as a "
                    "member of the docker group")
        if isinstance(cause, (FileNotFoundError, ConnectionRefusedError)):
            return (f"dockerd is not running (nothing answers on {where}): "
                    f"start it: `{START_DOCKERD}`")
        if isinstance(cause, (TimeoutError, Timeout)):
            return (f"dockerd on {where} did not answer within {PING_TIMEOUT_S:g} s: "
                    "is it hung? see its log")
    return f"cannot talk to dockerd on {where}: {first_line(str(error))}"


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error, what caused it, and exceptions carried in args (urllib3 wraps them there)."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += [a for a in current.args if isinstance(a, BaseException)]


@contextmanager
def engine_step(action: str) -> Iterator[None]:
    """One Engine API call (or a few), logged with its time; engine and transport errors
    during it become one-line InstanceErrors ("docker could not <action>: ...")."""
    from docker.errors import APIError, DockerException
    from requests.exceptions import RequestException

    log.info("docker: %s", action)
    try:
        yield
    except APIError as error:
        reason = first_line(str(error.explanation or error))
        log.error("docker: %s failed: %s", action, reason)
        raise InstanceError(f"docker could not {action}: {reason}") from error
    except (DockerException, RequestException) as error:
        log.error("docker: %s failed: %s", action, error)
        raise InstanceError(f"docker could not {action}: {first_line(str(error))}") from error


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else "no message"


def output_chunks(sock: Any) -> Iterator[bytes]:
    """The payloads of an attach or exec connection's multiplexed stream (no tty), stdout
    and stderr alike, read with the SDK's socket functions. They wait for data without a
    timeout, so a probe that idles silently for minutes keeps its stream."""
    from docker.utils.socket import frames_iter

    for _, payload in frames_iter(sock, tty=False):
        yield payload


def _shutdown(sock: Any, how: int) -> None:
    """shutdown(2) of the connection under the SDK's socket object, through a duplicate of
    its descriptor (shutdown acts on the connection, whichever descriptor asks)."""
    with suppress(OSError), socket.socket(fileno=os.dup(sock.fileno())) as duplicate:
        duplicate.shutdown(how)


def close_stdin(sock: Any) -> None:
    """Half-close the connection: the container's stdin reaches EOF and the probe leaves."""
    _shutdown(sock, socket.SHUT_WR)


def close_connection(sock: Any) -> None:
    """End the connection: wakes the reader thread if it still waits, then releases it."""
    _shutdown(sock, socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


def remove_container(api: Any, container_id: str, name: str) -> None:
    """Remove a container, running or not; one already gone is fine."""
    from docker.errors import NotFound

    with engine_step(f"remove container {name}"), \
            suppress(NotFound):
        api.remove_container(container_id, force=True)


def is_local(endpoint: str | None) -> bool:
    """Whether dockerd listens on this host's unix socket, so what it names (a runtime's
    binary) is a file here that we may read; a tcp endpoint may be another host."""
    return (endpoint or DEFAULT_ENDPOINT).startswith("unix://")


def runtime_missing(api: Any, runtime: str, endpoint: str | None) -> str | None:
    """None when dockerd has this OCI runtime registered, else why not and what to do."""
    with engine_step("read docker info"):
        runtimes = api.info().get("Runtimes") or {}
    if runtime in runtimes:
        return None
    refusal = runtime_refusal(runtime) if is_local(endpoint) else None
    if refusal:  # registering it would not help
        return f"dockerd has no OCI runtime {runtime!r}, and {refusal}"
    return (f"dockerd has no OCI runtime {runtime!r} (it has: {', '.join(sorted(runtimes))}): "
            "register it in /etc/docker/daemon.json (.ci/host-setup does where it works) and "
            "reload dockerd (kill -HUP)")


def remove_labelled(api: Any, run_id: str | None, dry_run: bool,
                    endpoint: str | None = None) -> list[str]:
    """Containers labelled by a bench run (this one or any), removed unless dry_run; a
    configured endpoint is named in each line."""
    label = RUN_LABEL if run_id is None else f"{RUN_LABEL}={run_id}"
    with engine_step("list bench containers"):
        found = api.containers(all=True, filters={"label": label})
    where = f" on {endpoint}" if endpoint else ""
    lines = []
    for container in found:
        name = (container.get("Names") or [container["Id"][:12]])[0].lstrip("/")
        lines.append(f"container {name}{where}")
        if not dry_run:
            remove_container(api, container["Id"], name)
    return lines


def remove_labelled_images(api: Any, run_id: str | None, dry_run: bool,
                           endpoint: str | None = None) -> list[str]:
    """Images a bench run pushed to its registry and pulled (labelled with the run), removed
    unless dry_run; bench's own cached images (bench-probe, bench-workload) carry no run."""
    label = RUN_LABEL if run_id is None else f"{RUN_LABEL}={run_id}"
    with engine_step("list bench images"):
        found = api.images(filters={"label": label})
    where = f" on {endpoint}" if endpoint else ""
    lines = []
    for image in found:
        for name in image.get("RepoTags") or [image["Id"]]:
            lines.append(f"image {name}{where}")
        if not dry_run:
            with engine_step(f"remove image {image['Id'][:19]}"), suppress_missing():
                api.remove_image(image["Id"], force=True)
    return lines


@contextmanager
def suppress_missing() -> Iterator[None]:
    from docker.errors import NotFound

    with suppress(NotFound):
        yield
