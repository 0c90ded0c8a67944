"""A container registry on loopback, for cold starts that pull their image first.

Debian's `docker-registry` (the distribution project's registry, 2.8) serves on 127.0.0.1
at a port the kernel picks (its log names it), with its storage in the run's work
directory and no configuration of the host: no system service, no TLS, no auth, no
notifications, nothing that leaves 127.0.0.0/8. Docker trusts a registry on 127.0.0.0/8
without TLS; podman is told to (--tls-verify=false).

One registry serves every runtime of a run that pulls (docker and podman alike): the first
driver to need it starts it and the last to close stops it. Its process carries the run's
name in BENCH_INSTANCE (bench-<run id>-registry), so `bench clean` finds it among the host
processes of a killed run (the process driver's sweep), and its storage sits in the run's
work directory, which the runner removes and `bench clean` sweeps.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import RuntimeUnavailable
from runtimes.base import RunContext, instance_prefix, log
from runtimes.host.spawn import TAG
from runtimes.host.tools import find_tool, missing_tool

BINARY = "docker-registry"
PACKAGE = "docker-registry"
LISTENING = re.compile(r"listening on (127\.0\.0\.1:\d+)")
START_TIMEOUT_S = 20.0
STOP_GRACE_S = 5.0


@dataclass
class Registry:
    """A running registry: its process, its address (127.0.0.1:PORT) and its folder."""

    process: subprocess.Popen[bytes]
    address: str
    folder: Path
    users: int = 1


def unavailable() -> str | None:
    """None when the registry can be started here, else why not and what to do."""
    return missing_tool(BINARY, PACKAGE)


def config_document(storage: Path) -> dict[str, object]:
    """A registry on 127.0.0.1 only (port 0: the kernel's choice), storage in the folder."""
    return {"version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
            "http": {"addr": "127.0.0.1:0", "secret": secrets.token_hex(16)}}


def start_registry(name: str, folder: Path) -> Registry:
    """Start a registry in `folder` (its config, storage and log) and wait for its address."""
    binary = find_tool(BINARY)
    if binary is None:
        raise RuntimeUnavailable(unavailable() or f"{BINARY} is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"  # JSON is YAML: the registry reads it as its config
    config.write_text(json.dumps(config_document(folder / "storage")))
    log_file = folder / "registry.log"
    argv = [str(binary), "serve", str(config)]
    log.info("%s: run %s", name, argv)
    with log_file.open("wb") as output:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, close_fds=True,
                                   env={**os.environ, TAG: name})
    try:
        address = wait_for_address(process, log_file)
    except BaseException:
        stop_process(process)
        raise
    log.info("%s: serving on %s", name, address)
    return Registry(process, address, folder)


def wait_for_address(process: subprocess.Popen[bytes], log_file: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = LISTENING.search(log_file.read_text(errors="replace"))
        if found:
            return found.group(1)
        if process.poll() is not None:
            tail = log_file.read_text(errors="replace").strip().splitlines()[-1:]
            raise RuntimeUnavailable(f"{BINARY} exited with status {process.returncode}: "
                                     f"{tail[0][:300] if tail else 'no output'}")
        time.sleep(0.05)
    raise RuntimeUnavailable(f"{BINARY} did not say where it listens within "
                             f"{START_TIMEOUT_S:g} s (see {log_file})")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


_running: dict[str, Registry] = {}  # run id -> the run's registry
_lock = threading.Lock()


def registry_name(run_id: str) -> str:
    return f"{instance_prefix(run_id)}registry"


def acquire(context: RunContext) -> Registry:
    """The run's registry, started on first use; each acquire is paired with a release."""
    with _lock:
        found = _running.get(context.run_id)
        if found is not None and found.process.poll() is None:
            found.users += 1
            return found
        started = start_registry(registry_name(context.run_id), context.work_dir / "registry")
        _running[context.run_id] = started
        return started


def release(context: RunContext) -> None:
    """One user fewer; the last one stops the registry (its storage goes with the work dir)."""
    with _lock:
        found = _running.get(context.run_id)
        if found is None:
            return
        found.users -= 1
        if found.users <= 0:
            del _running[context.run_id]
            log.info("%s: stop", registry_name(context.run_id))
            stop_process(found.process)


class Lease:
    """A driver's hold on its run's registry: taken on first use, given back once."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.held: Registry | None = None

    def address(self) -> str:
        """127.0.0.1:PORT of the run's registry, started if this is its first user."""
        if self.held is None:
            self.held = acquire(self.context)
        return self.held.address

    def release(self) -> None:
        if self.held is not None:
            self.held = None
            release(self.context)
