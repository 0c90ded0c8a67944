"""A child process of the harness whose stdout carries the probe's markers.

Shared by the drivers whose instance is a host process tree (process, native): spawn
with pipes, stamp its output, and stop it politely, then by force.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

from runtimes.base import Instance


def spawn(instance: Instance, argv: list[str]) -> subprocess.Popen[bytes]:
    """Start argv with stdin and stdout as pipes; its output feeds instance.output."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, close_fds=True)
    # stdout=PIPE was asked for, so Popen.stdout is set
    fd = process.stdout.fileno()  # type: ignore[union-attr]
    instance.output.follow(lambda: iter(lambda: os.read(fd, 65536), b""), instance.name)
    return process


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


def wait_exit(process: subprocess.Popen[bytes], deadline_ns: int) -> int | None:
    """The exit status if the process leaves before the deadline, else None."""
    try:
        return process.wait(timeout=max(0.0, (deadline_ns - time.monotonic_ns()) / 1e9))
    except subprocess.TimeoutExpired:
        return None
