"""How the process and native drivers start an instance: the launcher (runtimes/host/launcher.c)
built as a small shared library that bench loads once per driver, in prepare(), outside every
measurement, and calls to start each instance.

Started by subprocess.Popen, a boot's `spawn` phase held bench's own work, the child's exec
and the probe's start at once; a separate launcher process asked over a socket cost a
wake-up of its own on every start. Here a start is one call into C from the asking thread:
the child is cloned the way glibc's posix_spawn clones it (sharing bench's memory, on a
stack of its own, the thread waiting until its exec), and writes the CLOCK_MONOTONIC stamps
of its steps where the call returns them (bench's clock too), which become boot phases
(after `cgroup`, the cgroup bench makes; then `ready`, the ready line's arrival):

    request     bench asked -> the launcher has the request (bench's own part, measured)
    spawn       -> the child runs in its cgroup (a native instance is PID 1 of a new pid
                   namespace; v1: it wrote 0 to `tasks`, v2: it was cloned into it)
    namespaces  -> mount, uts, ipc, net and cgroup namespaces, hostname, keyring, lo up
    mounts      -> its rootfs: /proc, read-only and masked paths, /tmp, binds, pivot_root
    seccomp     -> capabilities dropped, no_new_privs, the filter installed
    exec        -> execve done: the asking thread, waiting since the clone, runs again. On a
                   busy host it may run only after the ready line arrived: then `exec` ends
                   there and `ready` is 0 (Instance.boot_phases)

A started child is a `Launched`: Popen's interface where teardown needs it (pid, stdin,
poll, wait, terminate, kill), reaped and signalled through a pidfd (no pid reuse race). One
thread per driver (runtimes/host/pump.py) reads every child's output. A start is armed before
its clock (Launcher.arm: the request encoded, its pipes made, the call's struct filled), so
neither a thread, a pipe nor Python's building of a struct is on its clock.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from foundation.errors import InstanceError, RuntimeUnavailable
from runtimes.base import AnyDriver, log
from runtimes.host.cgroups import Cgroup, Hierarchy
from runtimes.host.pump import OutputPump, Stream
from runtimes.host.spawn import TAG
from runtimes.instance import Instance, StampedLines

SOURCE = Path(__file__).with_name("launcher.c")
LIBRARY_DEFINES = ("LAUNCHER_LIBRARY",)
# the launcher's stamps, in its order (enum stamp in launcher.c)
STAMPS = ("called", "child", "cgroup", "namespaces", "mounts", "seccomp", "exec")
# the boot phase each stamp ends: `spawn` ends with the child in its cgroup (from its first
# instruction to there is one or two small writes)
PHASE_OF = {"called": "request", "cgroup": "spawn", "namespaces": "namespaces",
            "mounts": "mounts", "seccomp": "seccomp", "exec": "exec"}
MAX_REQUEST = 1 << 20
MAX_FILTER = 4096  # BPF_MAXINSNS


class LaunchStruct(ctypes.Structure):
    """struct launch of launcher.c, field for field."""

    _fields_ = [("payload", ctypes.c_char_p), ("length", ctypes.c_uint64),
                ("stdin_fd", ctypes.c_int32), ("stdout_fd", ctypes.c_int32),
                ("cgroup_fd", ctypes.c_int32), ("filter_length", ctypes.c_int32),
                ("filter", ctypes.c_void_p), ("pid", ctypes.c_int32), ("pidfd", ctypes.c_int32),
                ("error", ctypes.c_int32), ("reserved", ctypes.c_int32),
                ("step", ctypes.c_char * 64), ("stamps", ctypes.c_uint64 * len(STAMPS))]


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
    # entries every child of the driver gets (the harness's environment), encoded once by
    # encoded_environment
    base_env: bytes = b""
    cgroup: Joining = Joining()
    rootfs: str | None = None
    hostname: str | None = None
    binds: Sequence[tuple[str, str]] = ()

    def encode(self, cpus: str | None = None) -> bytes:
        """The fields launcher.c's parse_request reads (its comment lists the tags)."""
        fields = [*(("a", arg) for arg in self.argv), *(("e", entry) for entry in self.env),
                  *(("j", str(path)) for path in self.cgroup.files)]
        if cpus is not None:
            fields.append(("p", cpus))
        if self.rootfs is not None:
            fields += [("n", self.rootfs), ("h", self.hostname or "")]
        for source, target in self.binds:
            fields += [("b", source), ("B", target)]
        payload = encode_fields(fields) + self.base_env
        if len(payload) >= MAX_REQUEST:
            raise InstanceError(f"the command line is {len(payload)} bytes: more than the "
                                f"launcher takes ({MAX_REQUEST})")
        return payload


def harness_environment() -> bytes:
    """What a started command inherits: the harness's environment (without an instance's
    name: each start gets its own), encoded once for the launcher."""
    return encoded_environment([f"{key}={value}" for key, value in os.environ.items()
                                if key != TAG])


def encode_fields(fields: Sequence[tuple[str, str]]) -> bytes:
    """Each field: its tag, its value as the OS spells names (surrogateescape for bytes that
    are not UTF-8), a NUL; a NUL inside a value is refused (it would end the field early)."""
    try:
        payload = "".join(f"{tag}{value}\0" for tag, value in fields).encode(
            "utf-8", "surrogateescape")
    except UnicodeEncodeError as error:
        raise InstanceError(f"cannot pass {error.object!r} to the launcher") from error
    if payload.count(b"\0") != len(fields):
        raise InstanceError("an argument or variable holds a NUL byte")
    return payload


def encoded_environment(entries: Sequence[str]) -> bytes:
    """A driver's base environment, encoded once (at prepare(), not on each start's clock)."""
    return encode_fields([("e", entry) for entry in entries])


class Launched:
    """A child the launcher started, bench's own child: what Popen offers teardown."""

    def __init__(self, pid: int, pidfd: int, stdin: IO[bytes], argv: Sequence[str],
                 stamps: dict[str, int], problem: str | None = None) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.argv = list(argv)
        self.stamps = stamps
        self.problem = problem  # the step that failed before its exec, and why
        self.returncode: int | None = None
        self._pidfd = pidfd
        self._lock = threading.Lock()  # one reaper; no signal through a closed, reused fd

    def poll(self) -> int | None:
        """Its exit status once it exited, else None (Popen's convention: -N for signal N)."""
        with self._lock:
            return self._reap(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int:
        """Its exit status; subprocess.TimeoutExpired after `timeout` seconds."""
        with self._lock:
            pidfd = self._pidfd
        if pidfd >= 0 and not select.select([pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(f"process {self.pid}", timeout or 0.0)
        with self._lock:
            status = self._reap(0)
        if status is None:  # another thread reaped it meanwhile
            raise subprocess.TimeoutExpired(f"process {self.pid}", timeout or 0.0)
        return status

    def _reap(self, options: int) -> int | None:
        if self.returncode is not None or self._pidfd < 0:
            return self.returncode
        found = os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | options)
        if found is None:
            return None
        code = found.si_status if found.si_code == os.CLD_EXITED else -found.si_status
        self.returncode = code
        os.close(self._pidfd)
        self._pidfd = -1
        return code

    def send_signal(self, signum: int) -> None:
        """Through its pidfd: never to another process that took its pid; nothing once it
        was reaped."""
        with self._lock:
            if self._pidfd >= 0:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(self._pidfd, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Kit:
    """The pipes of one start (the child's stdin, and its stdout and stderr, read by the
    pump), made when the start is armed, before its clock."""

    def __init__(self, pump: OutputPump) -> None:
        self.stdin_read, stdin_write = os.pipe2(os.O_CLOEXEC)
        self.stdin = os.fdopen(stdin_write, "wb", buffering=0)
        out_read, self.out_write = os.pipe2(os.O_CLOEXEC)
        self.stream = Stream()
        pump.follow(out_read, self.stream)  # the pump closes it, at its end or at its close

    def release(self) -> None:
        """The child's ends, once it has them (or will never): our copies go, so that the
        stream ends when the child does."""
        os.close(self.stdin_read)
        os.close(self.out_write)

    def close(self) -> None:
        """An unused kit: all our ends closed, so the pump sees its stream end."""
        self.stdin.close()
        self.release()


class Armed:
    """A start armed before its clock (Launcher.arm): the request as launcher.c reads it,
    the pipes the child gets (a Kit, its output already bound to the instance's lines) and
    the struct the call takes. Only the cgroup directory's descriptor is left to the start
    (v2: the directory exists only then). An armed start that never runs is discard()ed."""

    def __init__(self, argv: Sequence[str], payload: bytes, directory: Path | None, kit: Kit,
                 struct: LaunchStruct) -> None:
        self.argv = argv
        self.payload = payload  # kept alive while the struct points into it
        self.directory = directory
        self.kit = kit
        self.struct = struct

    def discard(self) -> None:
        """Its pipes closed: the start it was armed for will not happen."""
        self.kit.close()


class Launcher:
    """One driver's launcher: the library and its output pump. `seccomp` is
    the filter native children install; `cpus` the affinity every child starts with."""

    def __init__(self, library: Path, tag: str, seccomp: bytes | None = None,
                 cpus: str | None = None) -> None:
        try:
            self.library = ctypes.CDLL(str(library))
        except OSError as error:
            raise RuntimeUnavailable(f"cannot load the launcher {library}: {error}") from error
        self._start = self.library.launcher_start
        self._start.argtypes = [ctypes.POINTER(LaunchStruct)]
        self._start.restype = ctypes.c_int
        self.tag = tag
        self.cpus = cpus
        self.filter = ctypes.create_string_buffer(seccomp or b"", len(seccomp or b""))
        self.filter_length = len(seccomp or b"") // 8  # struct sock_filter: 8 bytes
        if self.filter_length > MAX_FILTER:
            raise RuntimeUnavailable(f"a seccomp filter of {self.filter_length} instructions "
                                     f"is more than the kernel takes ({MAX_FILTER})")
        self.pump = OutputPump(tag, self.library)

    def arm(self, request: Request, output: StampedLines) -> Armed:
        """The start armed, its output feeding `output`: the request as the library reads it
        (with this launcher's CPU list), this start's pipes and the call's struct. Work done
        before a start's clock (LaunchedDriver.before_clock): on it, building the struct and
        taking the kit were most of boot.request's 0.05 ms, Python with cold caches."""
        payload = request.encode(self.cpus)
        kit = Kit(self.pump)
        kit.stream.lines = output  # bound before the child exists: its first line is stamped on arrival
        struct = LaunchStruct(payload, len(payload), kit.stdin_read, kit.out_write, -1,
                              self.filter_length, ctypes.addressof(self.filter))
        return Armed(request.argv, payload, request.cgroup.directory, kit, struct)

    def start(self, instance: Instance[Any], request: Request) -> Launched:
        """The instance's process, armed and launched at once (a start no clock times: the
        drivers arm before their clock and launch on it); its output feeds instance.output."""
        return self.launch(self.arm(request, instance.output))

    def launch(self, armed: Armed) -> Launched:
        """Start one child whose stdin and stdout/stderr are the armed start's pipes: returns
        once its exec is done (or a step of it failed: the child says which on its stream and
        exits 127). An InstanceError when nothing started."""
        kit, launch = armed.kit, armed.struct
        try:
            directory = -1 if armed.directory is None else open_directory(armed.directory)
        except BaseException:
            armed.discard()
            raise
        launch.cgroup_fd = directory
        try:
            code = self._start(ctypes.byref(launch))  # the GIL is let go meanwhile
        except BaseException:
            kit.stdin.close()
            raise
        finally:
            kit.release()
            if directory >= 0:
                os.close(directory)
        stamps = {name: value for name, value in zip(STAMPS, launch.stamps, strict=True) if value}
        step = launch.step.decode(errors="replace")
        reason = f"{step}: {os.strerror(launch.error)}" if launch.error else step
        if code < 0:
            kit.stdin.close()
            raise InstanceError(f"the launcher could not start {list(armed.argv)}: {reason}")
        return Launched(launch.pid, launch.pidfd, kit.stdin, armed.argv, stamps,
                        reason if code else None)

    def started(self, instance: Instance[Any], child: Launched) -> None:
        """After the instance's ready line: its phases from the child's stamps, and the start
        in the log (a file write kept off the clock)."""
        log.info("%s: the launcher started %s as pid %d (stamps %s)", instance.name, child.argv,
                 child.pid, child.stamps)
        mark_phases(instance, child.stamps)

    def close(self) -> None:
        self.pump.close()


def open_directory(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise InstanceError(f"cannot open cgroup {path}: {error.strerror}") from error


def mark_phases(instance: Instance[Any], stamps: dict[str, int]) -> None:
    """The launcher's stamps of a start as the instance's boot phases (see the module
    docstring)."""
    for name, phase in PHASE_OF.items():
        if name in stamps:
            instance.mark(phase, stamps[name])


def start_launcher(driver: AnyDriver, seccomp: bytes | None = None,
                   cpus: str | None = None) -> Launcher:
    """The driver's launcher, its library compiled into the run's cache and loaded (in
    prepare(), off every measurement)."""
    from runtimes.host.build import compile_library

    return Launcher(compile_library(SOURCE, driver.context.cache_dir, LIBRARY_DEFINES),
                    driver.resource_name("launcher"), seccomp, cpus)


def launcher_command(cache_dir: Path) -> Path:
    """The launcher as a command (one instance, waited for): the same start, for a timer
    that runs commands (bench verify's reference) and for tests."""
    from runtimes.host.build import compile_static

    return compile_static(SOURCE, cache_dir)
