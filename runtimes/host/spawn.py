"""A child process of the harness whose stdout carries the probe's markers.

Shared by the drivers whose instance is a host process tree (process, native): spawn
with pipes, stamp its output, and stop it politely, then by force.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from runtimes.base import log
from runtimes.errors import ExitCause, InstanceError
from runtimes.instance import Instance

TAG = "BENCH_INSTANCE"


def spawn(instance: Instance[Any], argv: list[str]) -> subprocess.Popen[bytes]:
    """Start argv with stdin and stdout as pipes; its output feeds instance.output.

    The environment carries the instance's name, so `bench clean` can find the process
    after the harness itself was killed.
    """
    log.info("%s: run %s", instance.name, argv)
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, close_fds=True,
                               env={**os.environ, TAG: instance.name})
    # The reader holds the pipe's file object, not its number: a bare fd could be closed
    # when the Popen is collected and reused by the next instance's pipe while this thread
    # still reads it, stealing that instance's lines.
    pipe = process.stdout
    if not isinstance(pipe, io.BufferedReader):  # what Popen gives for stdout=PIPE, bufsize=-1
        raise InstanceError(f"{instance.name}: its stdout is not a buffered pipe")
    instance.output.follow(lambda: iter(lambda: pipe.read1(65536), b""), instance.name)
    return process


def process_exit(process: subprocess.Popen[bytes] | None, instance: Instance[Any],
                 wait: float = 1.0) -> ExitCause | None:
    """How a process whose output just ended left (it may still be exiting); None while
    its output goes on, or if it does not leave within `wait` seconds."""
    if process is None or not instance.output.closed:
        return None
    try:
        return ExitCause.from_wait_status(process.wait(timeout=wait))
    except subprocess.TimeoutExpired:
        return None


def stop_process(process: subprocess.Popen[bytes], grace_seconds: float) -> int:
    """Tell the probe to leave (EOF on stdin), then SIGTERM, then SIGKILL; returns its status."""
    for step in (_close_stdin, subprocess.Popen.terminate, subprocess.Popen.kill):
        step(process)
        try:
            return process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            continue
    return process.wait()


def _close_stdin(process: subprocess.Popen[bytes]) -> None:
    if process.stdin and not process.stdin.closed:
        with contextlib.suppress(OSError):  # the pipe may already be broken: it is going anyway
            process.stdin.close()


def tagged_processes(prefix: str) -> list[tuple[int, str]]:
    """(pid, instance name) of every process whose BENCH_INSTANCE starts with prefix."""
    found = []
    needle = f"{TAG}={prefix}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or a kernel thread
        for item in environ.split(b"\0"):
            if item.startswith(needle):
                found.append((int(entry.name), item.split(b"=", 1)[1].decode(errors="replace")))
    return found


def sweep_processes(prefix: str, dry_run: bool) -> list[str]:
    """Kill (unless dry_run) the processes of instances named with prefix; one line each."""
    lines = []
    for pid, name in tagged_processes(prefix):
        if pid == os.getpid():
            continue
        if not dry_run:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        lines.append(f"process {pid} ({name})")
    return lines
