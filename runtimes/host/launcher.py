"""The Python side of the launcher (runtimes/host/launcher.c): a small static fork server each
host-side driver (process, native) starts once, in prepare(), outside every measurement, and
asks to start its instances.

Started by subprocess.Popen, a boot's `spawn` phase held bench's own work, the child's exec
and the probe's start at once. Here a start is one message on a socket; the launcher clones
the child at once, and writes back CLOCK_MONOTONIC stamps of each step (the launcher runs on
the host, so its clock is the harness's), which the drivers turn into boot phases (after
`cgroup`, the cgroup bench makes; then `ready`, the ready line's arrival):

    request     bench asked -> the launcher read the request (bench's own part, measured)
    spawn       -> the child runs in its cgroup (clone3; a native instance is PID 1 of a new
                   pid namespace; v1: it wrote 0 to `tasks`, v2: it was cloned into it)
    namespaces  -> mount, uts, ipc, net and cgroup namespaces, hostname, keyring, lo up
    mounts      -> its rootfs: /proc, read-only and masked paths, /tmp, binds, pivot_root
    seccomp     -> capabilities dropped, no_new_privs, the filter installed
    exec        -> execve done, as the launcher saw it (the child's close-on-exec status
                   pipe closed); on a busy host it may see it late, after the ready line
                   arrived: then `exec` ends there and `ready` is 0 (Instance.boot_phases)

A started child is a `Launched`: Popen's interface where teardown needs it (pid, stdin,
poll, wait, terminate, kill), its exit status from the launcher (its parent), its signals
through a pidfd (no pid reuse race). One thread per launcher reads the replies, and one
(runtimes/host/pump.py) every child's output.
"""

from __future__ import annotations

import array
import contextlib
import errno
import os
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from foundation.errors import InstanceError, RuntimeUnavailable
from runtimes.base import AnyDriver, log
from runtimes.host.cgroups import Cgroup, Hierarchy
from runtimes.host.pump import OutputPump
from runtimes.host.spawn import OWNER, TAG
from runtimes.instance import Instance, StampedLines

SOURCE = Path(__file__).with_name("launcher.c")
REPLY = struct.Struct("<IiQqq8Q64s")
STARTED, FAILED, EXITED, REFUSED = 1, 2, 3, 4  # enum kind in launcher.c
# the launcher's stamps, in its order (enum stamp in launcher.c)
STAMPS = ("received", "cloned", "child", "cgroup", "namespaces", "mounts", "seccomp", "exec")
# the boot phase each stamp ends: `spawn` ends with the child in its cgroup (the parent's
# `cloned` races the child's start, and `child` to `cgroup` is one or two small writes)
PHASE_OF = {"received": "request", "cgroup": "spawn", "namespaces": "namespaces",
            "mounts": "mounts", "seccomp": "seccomp", "exec": "exec"}
MAX_REQUEST = 1 << 20  # launcher.c's MAX_REQUEST
SEND_BUFFER = 4 << 20
START_TIMEOUT_S = 10.0
STAMPS_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Joining:
    """How a child enters its cgroup: v1, the `tasks` files it writes 0 to before its exec
    (moving only itself: no threadgroup lock); v2, the directory it is cloned into."""

    files: tuple[Path, ...] = ()
    directory: Path | None = None


def joining(cgroups: Hierarchy, cgroup: Cgroup) -> Joining:
    paths = tuple(cgroups.join_paths(cgroup))
    return Joining(directory=paths[0]) if cgroups.version == 2 else Joining(files=paths)


@dataclass(frozen=True)
class Request:
    """One instance to start: its command line and environment, its cgroup, and, for a
    native instance, its rootfs, hostname and bind mounts (namespaces and the launcher's
    isolation steps)."""

    argv: Sequence[str]
    env: Sequence[str] = ()
    cgroup: Joining = Joining()
    rootfs: str | None = None
    hostname: str | None = None
    binds: Sequence[tuple[str, str]] = ()

    def encode(self, serial: int) -> bytes:
        fields = [("i", str(serial)), *(("a", arg) for arg in self.argv),
                  *(("e", entry) for entry in self.env),
                  *(("j", str(path)) for path in self.cgroup.files)]
        if self.cgroup.directory is not None:
            fields.append(("c", ""))
        if self.rootfs is not None:
            fields += [("n", self.rootfs), ("h", self.hostname or "")]
        for source, target in self.binds:
            fields += [("b", source), ("B", target)]
        if any("\0" in value for _, value in fields):
            raise InstanceError("an argument or variable holds a NUL byte")
        try:  # as the OS spells names (surrogateescape for bytes that are not UTF-8)
            payload = b"".join(tag.encode() + os.fsencode(value) + b"\0" for tag, value in fields)
        except UnicodeEncodeError as error:
            raise InstanceError(f"cannot pass {error.object!r} to the launcher") from error
        if len(payload) >= MAX_REQUEST:
            raise InstanceError(f"the command line is {len(payload)} bytes: more than the "
                                f"launcher takes ({MAX_REQUEST})")
        return payload


class Launched:
    """A child the launcher started: what Popen offers teardown, fed by the launcher's replies."""

    def __init__(self, serial: int, stdin: IO[bytes]) -> None:
        self.serial = serial
        self.stdin: IO[bytes] | None = stdin
        self.pid = 0
        self.returncode: int | None = None
        self.stamps: dict[str, int] = {}
        self.problem: str | None = None  # why it never ran its command
        self._pidfd = -1
        self._pidfd_lock = threading.Lock()  # a signal never goes through a closed, reused fd
        self._started = threading.Event()
        self._exited = threading.Event()
        self._launcher_gone = False

    # --- what the launcher's replies set (its reader thread) ----------------------------

    def _reply(self, kind: int, error: int, pid: int, status: int, stamps: dict[str, int],
               step: str, pidfd: int) -> None:
        if kind in (STARTED, FAILED, REFUSED):
            self.pid, self._pidfd = pid, pidfd
            self.stamps.update(stamps)
            if kind != STARTED:
                self.problem = f"{step}: {os.strerror(error)}" if error else step
            if kind == REFUSED:
                self.returncode = 127
                self._exited.set()
            self._started.set()
        elif kind == EXITED:
            self.returncode = os.waitstatus_to_exitcode(status)
            self._close_pidfd()
            self._exited.set()

    def _lost(self) -> None:
        """The launcher is gone: nothing more will come for this child. Its pidfd (if its
        start reached its exec) still tells when it leaves, and still reaches it."""
        self._launcher_gone = True
        self._started.set()
        self._exited.set()

    def _close_pidfd(self) -> None:
        with self._pidfd_lock:
            if self._pidfd >= 0:
                os.close(self._pidfd)
                self._pidfd = -1

    # --- Popen's interface -------------------------------------------------------------

    def poll(self) -> int | None:
        """Its exit status once it exited, else None (Popen's convention)."""
        return self.wait(0) if self._exited.is_set() and self._left(0) else None

    def wait(self, timeout: float | None = None) -> int:
        """Its exit status (Popen's convention: -N for signal N); subprocess.TimeoutExpired
        after `timeout` seconds; InstanceError when it left after its launcher, which can no
        longer say how (a child of a launcher that is gone cannot be reaped by us)."""
        if not self._exited.wait(timeout) or not self._left(timeout):
            raise subprocess.TimeoutExpired(f"instance {self.pid}", timeout or 0.0)
        if self.returncode is None:
            raise InstanceError(f"process {self.pid} left after its launcher, which cannot say "
                                "how any more")
        return self.returncode

    def _left(self, timeout: float | None) -> bool:
        """Whether it left: said by the launcher, or (the launcher gone) by its pidfd."""
        if not self._launcher_gone:
            return True
        pidfd = self._pidfd  # only an EXITED reply closes it, and none comes any more
        return pidfd < 0 or bool(select.select([pidfd], [], [], timeout)[0])

    def send_signal(self, signum: int) -> None:
        """Through its pidfd: never to another process that took its pid. Nothing to do for
        a child that exited, or whose start never reached its exec (teardown kills its
        cgroup)."""
        self._started.wait(START_TIMEOUT_S)
        with self._pidfd_lock:
            if self._pidfd < 0:
                return
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def started_stamps(self, timeout_s: float = STAMPS_TIMEOUT_S) -> dict[str, int]:
        """The stamps of its start once its exec is done (or it failed): empty if they do not
        come within timeout_s."""
        return dict(self.stamps) if self._started.wait(timeout_s) else {}


class Launcher:
    """One launcher process for one driver: started in prepare(), closed in close()."""

    def __init__(self, binary: Path, tag: str, seccomp: Path | None = None,
                 cpus: str | None = None) -> None:
        self.binary = binary
        self.tag = tag
        options = [*(["--seccomp", str(seccomp)] if seccomp else []),
                   *(["--cpus", cpus] if cpus else [])]
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        argv = [str(binary), "--serve", str(theirs.fileno()), *options]
        log.info("launcher %s: run %s", tag, argv)
        try:
            # its own session: a terminal's ^C is bench's to handle (it stops the instances)
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),),
                                            env={**os.environ, TAG: tag, OWNER: str(os.getpid())},
                                            start_new_session=True)
        except OSError as error:
            ours.close()
            raise RuntimeUnavailable(f"cannot run the launcher {binary}: {error.strerror}") from error
        finally:
            theirs.close()
        self.socket = ours
        self.serial = 0
        self.children: dict[int, Launched] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_replies, name=f"{tag}-replies",
                                        daemon=True)
        self._reader.start()
        self.pump = OutputPump(tag)

    def start(self, instance: Instance[Any], request: Request) -> Launched:
        """Ask for the instance's process; its output feeds instance.output (see launch)."""
        return self.launch(instance.output, instance.name, request)

    def launch(self, output: StampedLines, name: str, request: Request) -> Launched:
        """Ask for one child whose stdin and stdout/stderr are pipes of ours, its output
        feeding `output`; returns at once, the child starting meanwhile (its stamps and any
        failure come later: Launched.started_stamps, the stream)."""
        stdin_read, stdin_write = os.pipe2(os.O_CLOEXEC)
        out_read, out_write = os.pipe2(os.O_CLOEXEC)
        launched = Launched(self.next_serial(), os.fdopen(stdin_write, "wb", buffering=0))
        try:
            # read before the child exists, so that its first line is stamped on arrival
            self.pump.follow(out_read, output)
            self._send(launched, request, [stdin_read, out_write])
        except BaseException:
            if launched.stdin is not None:
                launched.stdin.close()
            raise
        finally:
            os.close(stdin_read)
            os.close(out_write)  # the child's copy is the only writer left: its exit ends the stream
        log.info("%s: launched %s", name, list(request.argv))
        return launched

    def run(self, argv: list[str], what: str, timeout_s: float,
            env: Sequence[str] = ()) -> tuple[int, list[str]]:
        """A tool run to its end through the launcher (cheaper than a subprocess of this
        interpreter on a timed path): its exit status and its output's lines; an
        InstanceError when it does not end within timeout_s."""
        output = StampedLines()
        child = self.launch(output, what, Request(argv, env=env))
        if child.stdin is not None:
            child.stdin.close()
        try:
            status = child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            raise InstanceError(f"could not {what}: {Path(argv[0]).name} did not finish within "
                                f"{timeout_s:g} s") from None
        output.wait_closed(time.monotonic_ns() + int(timeout_s * 1e9))
        return status, output.text()

    def next_serial(self) -> int:
        with self._lock:
            self.serial += 1
            return self.serial

    def _send(self, launched: Launched, request: Request, fds: list[int]) -> None:
        payload = request.encode(launched.serial)
        directory = -1
        if request.cgroup.directory is not None:
            try:
                directory = os.open(request.cgroup.directory,
                                    os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as error:
                raise InstanceError(f"cannot open cgroup {request.cgroup.directory}: "
                                    f"{error.strerror}") from error
            fds = [*fds, directory]
        with self._lock:
            self.children[launched.serial] = launched
        try:
            with self._send_lock:
                self.socket.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                 array.array("i", fds))])
        except OSError as error:
            with self._lock:
                self.children.pop(launched.serial, None)
            raise InstanceError(f"the launcher {self.tag} did not take the request: "
                                f"{error.strerror}") from error
        finally:
            if directory >= 0:
                os.close(directory)

    def _read_replies(self) -> None:
        try:
            while True:
                data, ancillary, _, _ = self.socket.recvmsg(REPLY.size, socket.CMSG_SPACE(4),
                                                             socket.MSG_CMSG_CLOEXEC)
                if not data:
                    break
                self._dispatch(data, ancillary)
        except OSError as error:
            if error.errno not in (errno.EBADF, errno.ECONNRESET):
                log.error("launcher %s: reading its replies: %s", self.tag, error)
        finally:
            with self._lock:
                lost = list(self.children.values())
                self.children.clear()
            for child in lost:
                child._lost()

    def _dispatch(self, data: bytes, ancillary: list[tuple[int, int, bytes]]) -> None:
        kind, error, serial, pid, status, *values, raw_step = REPLY.unpack(data)
        pidfd = next((array.array("i", cdata[:4])[0] for level, kind_, cdata in ancillary
                      if level == socket.SOL_SOCKET and kind_ == socket.SCM_RIGHTS), -1)
        stamps = {name: value for name, value in zip(STAMPS, values, strict=True) if value}
        with self._lock:
            child = self.children.get(serial)
            if kind in (EXITED, REFUSED):
                self.children.pop(serial, None)
        if child is None:
            if pidfd >= 0:
                os.close(pidfd)
            return
        step = raw_step.rstrip(b"\0").decode(errors="replace")
        child._reply(kind, error, pid, status, stamps, step, pidfd)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Closing our end makes the launcher leave (and native instances with it)."""
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
        self.pump.close()


def mark_phases(instance: Instance[Any], stamps: dict[str, int]) -> None:
    """The launcher's stamps as boot phases of the instance (see the module docstring)."""
    for name, phase in PHASE_OF.items():
        if name in stamps:
            instance.mark(phase, stamps[name])



def start_launcher(driver: AnyDriver, seccomp: Path | None = None,
                   cpus: str | None = None) -> Launcher:
    """The driver's launcher, compiled into its run's cache and started (in prepare(), off
    every measurement), named for `bench clean` like everything the run makes."""
    from runtimes.host.build import compile_static

    return Launcher(compile_static(SOURCE, driver.context.cache_dir),
                    driver.resource_name("launcher"), seccomp, cpus)
