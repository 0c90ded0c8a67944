"""A child process of the harness whose stdout carries the probe's markers.

Shared by the drivers whose instance is a host process tree (process, native, lxc, oci,
podman's client): stamp its output, and stop it politely, then by force. A child is one the
driver's launcher started (runtimes/host/launcher.py, tool_starts.py), which offers the same
methods teardown uses as subprocess.Popen (the `Child` protocol). `spawn` (a Popen with pipes
and a reader thread per child) is the plain way, for the example driver
(docs/writing-a-driver.md) and the benchmarks' Popen baselines; bench's drivers start through
the launcher, whose one pump thread reads every child (tool_starts.py says why).
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from foundation.errors import ExitCause, InstanceError
from runtimes.base import log
from runtimes.host.cgroups import Cgroup, Hierarchy
from runtimes.host.pinning import thread_pinned
from runtimes.instance import Instance
from runtimes.protocol import exit_status

TAG = "BENCH_INSTANCE"


class Child(Protocol):
    """What teardown and exit causes need of a child process (subprocess.Popen has it)."""

    @property
    def pid(self) -> int: ...

    @property
    def stdin(self) -> IO[bytes] | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


def spawn(instance: Instance[Any], argv: list[str], cpus: str | None = None) -> subprocess.Popen[bytes]:
    """Start argv with stdin and stdout as pipes; its output feeds instance.output.

    The environment carries the instance's name, so `bench clean` can find the process
    after the harness itself was killed. With `cpus`, the process runs pinned to them from
    its start; the reader thread started here stays where the harness runs.
    """
    log.info("%s: run %s%s", instance.name, argv, f" on CPUs {cpus}" if cpus else "")
    with thread_pinned(cpus):
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


def process_exit(process: Child | None, instance: Instance[Any],
                 wait: float = 1.0) -> ExitCause | None:
    """How a process whose output just ended left (it may still be exiting); None while
    its output goes on, or if it does not leave within `wait` seconds."""
    if process is None or not instance.output.closed:
        return None
    try:
        return ExitCause.from_wait_status(process.wait(timeout=wait))
    except subprocess.TimeoutExpired:
        return None


def announced_exit(instance: Instance[Any]) -> ExitCause | None:
    """The status the probe announced (BENCH-DONE) before its output ended, for runtimes
    whose container process is no child of ours (its wait status is nobody's to read)."""
    if not instance.output.closed:
        return None
    status = exit_status(instance.output.text())
    return ExitCause(status=status) if status is not None else None


def wait_exit(process: Child, timeout_s: float) -> int | None:
    """The process's exit status as soon as it exits, or None after timeout_s.

    Popen.wait(timeout) polls with sleeps that grow to 50 ms, which a timed step would
    count as its own; a pidfd wakes us the moment the process exits. A launcher's child
    says its exit the moment its launcher does.
    """
    if not isinstance(process, subprocess.Popen):
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
    try:
        pidfd = os.pidfd_open(process.pid)
    except OSError:  # already reaped, or a kernel without pidfd_open
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        exited = bool(poller.poll(max(0, int(timeout_s * 1000))))
    finally:
        os.close(pidfd)
    return process.wait() if exited else None


def stop_process(process: Child, grace_seconds: float) -> int:
    """Tell the probe to leave (EOF on stdin), then SIGTERM, then SIGKILL; returns its status."""
    steps: tuple[Callable[[Child], None], ...] = (_close_stdin, _terminate, _kill)
    for step in steps:
        step(process)
        status = wait_exit(process, grace_seconds)
        if status is not None:
            return status
    return process.wait()


def stop_contained(instance: Instance[Any], process: Child | None,
                   cgroups: Hierarchy, cgroup: Cgroup, grace_seconds: float) -> None:
    """Teardown of an instance that is a host process tree in a cgroup of its own (process,
    native): the process asked to leave, then forced (stop_process), then everything still in
    the cgroup killed (a daemon that called setsid, a command that ignores SIGTERM) and the
    cgroup removed; each step marked."""
    try:
        if process is not None:
            stop_process(process, grace_seconds)
            instance.mark_stop("exit")
    finally:  # however the process left (or did not), nothing stays in its cgroup
        cgroups.kill(cgroup)
        cgroups.remove(cgroup)
        instance.mark_stop("cgroup_removed")


def _close_stdin(process: Child) -> None:
    if process.stdin and not process.stdin.closed:
        with contextlib.suppress(OSError):  # the pipe may already be broken: it is going anyway
            process.stdin.close()


def _terminate(process: Child) -> None:
    process.terminate()


def _kill(process: Child) -> None:
    process.kill()


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


def sweep_processes(prefix: str, dry_run: bool, wait_s: float = 2.0) -> list[str]:
    """Kill (unless dry_run) the processes of instances named with prefix, and wait up to
    wait_s for them to be gone (so that a look right after finds nothing); one line each."""
    lines = []
    for pid, name in tagged_processes(prefix):
        if pid == os.getpid():
            continue
        if not dry_run:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        lines.append(f"process {pid} ({name})")
    deadline = time.monotonic() + wait_s
    while lines and not dry_run and time.monotonic() < deadline and any(
            pid != os.getpid() for pid, _ in tagged_processes(prefix)):
        time.sleep(0.01)
    return lines
