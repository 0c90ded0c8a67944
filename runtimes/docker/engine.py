"""Talking to dockerd: a client whose handshake is a short ping, errors as one line, and the
hijacked attach/exec connection (stdin out, a multiplexed stdout/stderr stream in).

The `docker` library is imported inside the functions, so this module imports without it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from runtimes.errors import InstanceError, RuntimeUnavailable

DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"
START_DOCKERD = "dockerd --bridge=none --iptables=false --ip6tables=false &"
PING_TIMEOUT_S = 3.0  # with dockerd down a run must fail within seconds
API_TIMEOUT_S = 60.0
FRAME_HEADER = 8  # stream type, three zero bytes, big-endian payload size


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
def engine_step(what: str) -> Iterator[None]:
    """Engine and transport errors during `what` become one-line InstanceErrors."""
    from docker.errors import APIError, DockerException
    from requests.exceptions import RequestException

    try:
        yield
    except APIError as error:
        raise InstanceError(f"{what}: {first_line(str(error.explanation or error))}") from error
    except (DockerException, RequestException) as error:
        raise InstanceError(f"{what}: {first_line(str(error))}") from error


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else "no message"


def demultiplex(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The payloads of Docker's multiplexed stream (no tty), in order, stdout and stderr alike."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        while len(pending) >= FRAME_HEADER:
            size = int.from_bytes(pending[4:FRAME_HEADER], "big")
            if len(pending) < FRAME_HEADER + size:
                break
            yield pending[FRAME_HEADER:FRAME_HEADER + size]
            pending = pending[FRAME_HEADER + size:]


def raw_socket(sock: Any) -> socket.socket:
    """The plain socket under the SDK's SocketIO wrapper."""
    raw: socket.socket = getattr(sock, "_sock", sock)
    return raw


def unbounded(sock: Any) -> Any:
    """An idle probe says nothing for minutes: the stream must not time out."""
    raw_socket(sock).settimeout(None)
    return sock


def close_stdin(sock: Any) -> None:
    """Half-close the connection: the container's stdin reaches EOF and the probe leaves."""
    with suppress(OSError):  # the peer is gone already
        raw_socket(sock).shutdown(socket.SHUT_WR)


def close_connection(sock: Any) -> None:
    raw = raw_socket(sock)
    with suppress(OSError):
        raw.shutdown(socket.SHUT_RDWR)  # wakes the reader thread if it still waits
    sock.close()
    raw.close()


def remove_container(api: Any, container_id: str, name: str) -> None:
    """Remove a container, running or not; one already gone is fine."""
    from docker.errors import NotFound

    with engine_step(f"docker could not remove container {name} (run `bench clean`)"), \
            suppress(NotFound):
        api.remove_container(container_id, force=True)
