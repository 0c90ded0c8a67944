"""Host tools a driver runs to completion (runc, runsc, podman, lxc-*): found, versioned, run.

Every command line is logged to `bench.runtimes` before it runs, with a timeout, and a
failure becomes one InstanceError whose sentence names what was being done and the tool's
own last word on it (runc, podman and LXC put the reason on their last stderr line).
"""

from __future__ import annotations

import functools
import importlib.metadata
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from foundation.errors import InstanceError
from runtimes.base import log

DEFAULT_TIMEOUT_S = 60.0
VERSION_TIMEOUT_S = 20.0


def find_tool(name: str) -> Path | None:
    """The tool's path on PATH, or None."""
    found = shutil.which(name)
    return Path(found) if found else None


def missing_tool(name: str, package: str) -> str | None:
    """None when `name` is on PATH, else one sentence saying how to install it."""
    if find_tool(name) is not None:
        return None
    return (f"{name} is not installed (not on PATH): install it "
            f"(Debian: apt-get install {package}, or run .ci/host-setup)")


@functools.cache
def tool_version(path: str) -> str:
    """The first line of `path --version` ("runc version 1.1.5+ds1"); cached per process."""
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True,
                              timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def package_version(name: str) -> str:
    """An installed Python package's version (a driver's library: libvirt-python, qemu.qmp)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def last_line(text: str) -> str:
    """The last non-empty line of a tool's output: where runc, podman and LXC put the reason."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def run_tool(argv: list[str], what: str, timeout: float = DEFAULT_TIMEOUT_S,
             check: bool = True, env: Mapping[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    """Run a tool to its end, logged with its duration; with check, a failure (no such
    binary, a timeout, a non-zero exit) is an InstanceError "could not <what>: <reason>".
    ENV, when given, is the tool's whole environment (as subprocess.run's)."""
    log.info("run %s", argv)
    started = time.monotonic_ns()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=env)
    except OSError as error:
        raise InstanceError(f"could not {what}: cannot run {argv[0]}: {error.strerror}") from error
    except subprocess.TimeoutExpired as error:
        raise InstanceError(f"could not {what}: {Path(argv[0]).name} did not finish within "
                            f"{timeout:g} s") from error
    took = (time.monotonic_ns() - started) / 1e6
    log.debug("%s: exit %d after %.1f ms", Path(argv[0]).name, done.returncode, took)
    if check and done.returncode != 0:
        reason = last_line(done.stderr or done.stdout)
        log.error("could not %s: %s", what, reason)
        raise InstanceError(f"could not {what}: {reason}")
    return done


def sweep_dirs(what: str, directories: list[Path], dry_run: bool) -> list[str]:
    """One line per existing directory ("<what> <path>"), each removed unless dry_run."""
    lines = []
    for directory in directories:
        if directory.is_dir():
            lines.append(f"{what} {directory}")
            if not dry_run:
                shutil.rmtree(directory, ignore_errors=True)
    return lines
