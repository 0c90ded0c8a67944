"""Command workloads as drivers see them: the files (a tree), what the probe runs (a spec),
and where the bytes of a disk workload go (scratch storage).

Readiness and Scratch are defined once, here, at the layer both the config and the drivers
import: the config's `readiness:` and `scratch:` sections validate into these dataclasses
(foundation.checks: as strictly as a pydantic model, without loading pydantic until a config
is read), and the very objects reach the drivers in each spec.

The upper layers build one tree per workload (the executables and their shared-library
closure, or a local image's flattened filesystem), content-addressed in the cache, and a
spec per runtime. A driver that can run commands (``Driver.runs_commands``) receives them
once per run in ``prepare_commands`` and packages each tree its own way (a rootfs, an
image, a guest disk); every runtime then runs the same files with the same probe, which
supervises the command and reports on it (runtimes.protocol).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from foundation.checks import STRICT, Check
from foundation.errors import ConfigError

# inside every instance the scratch storage is here, and the command runs in it
SCRATCH_MOUNT = "/scratch"
# what every tree gets besides its files: mount points the runtimes fill
MOUNT_POINTS = ("proc", "dev", "tmp", "scratch")
CacheMode = Literal["none", "writeback", "writethrough", "directsync", "unsafe"]


def no_control(values: tuple[str, ...]) -> tuple[str, ...]:
    """Arguments travel as lines of the probe's spec: a newline or NUL cannot be in one."""
    for value in values:
        if "\n" in value or "\0" in value:
            raise ValueError(f"{value!r}: an argument cannot hold a newline or NUL")
    return values


def printable(value: str | None) -> str | None:
    """A value the probe compares with a server's bytes and that travels as one line of its
    spec (a guest's spec file): no control character at all, a newline least of all."""
    bad = sorted({f"{ord(c):#04x}" for c in value or "" if ord(c) < 0x20 or ord(c) == 0x7F})
    if bad:
        raise ValueError(f"{value!r} holds control characters ({', '.join(bad)})")
    return value


def regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"not a regular expression: {error}") from None
    return value


def line_pattern(value: str | None) -> str | None:
    """A regex for one output line, which travels as one line of the spec."""
    return None if value is None else no_control((regex(value),))[0]


@dataclass(frozen=True, kw_only=True)
class Scratch:
    """Scratch storage for one cell, on one host disk for every runtime: a host directory
    (process), bound at /scratch (native, docker), or a disk image file of `size` bytes made
    there (libvirt, with `cache` as its cache mode). Made at launch, removed at teardown.
    The config's `scratch:` section (docs/workloads.md); the run places it (`placed`) in its
    work directory unless the config names `dir`."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    size: Annotated[int, Check(number=True, byte_size=True, ge=16 << 20,
                               description="the guest disk's size")] = 512 << 20
    dir: Annotated[Path | None, Check(description="host directory that holds every cell's "
                                      "scratch storage (default: the run's work directory)")] = None
    cache: Annotated[CacheMode, Check(description="the libvirt disk's cache mode")] = "none"

    def placed(self, root: Path) -> Scratch:
        """Where the cells' storage goes: the configured directory, else `root`."""
        return replace(self, dir=self.dir or root)

    @property
    def host_dir(self) -> Path:
        if self.dir is None:
            raise ConfigError("scratch storage used before the run placed it (Scratch.placed)")
        return self.dir


@dataclass(frozen=True, kw_only=True)
class Readiness:
    """A server's first answer, checked inside the instance: 127.0.0.1:`port` accepting a
    connection (answering `send` with a reply that starts with `expect`, when given), or
    a line of its output matching `line` (a regex). The server is stopped once it has
    answered. The config's `readiness:` section."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    port: Annotated[int | None, Check(number=True, ge=1, le=65535)] = None
    send: Annotated[str | None, Check(max_length=512)] = None
    expect: Annotated[str | None, Check(min_length=1, max_length=200, after=printable)] = None
    line: Annotated[str | None, Check(after=line_pattern)] = None

    def __post_init__(self) -> None:
        if (self.port is None) == (self.line is None):
            raise ValueError("give either port or line")
        if self.port is None and (self.send or self.expect):
            raise ValueError("send and expect go with port")


@dataclass(frozen=True)
class CommandSpec:
    """What the probe runs and how; identical for every runtime but for the paths it uses."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    background: tuple[str, ...] = ()
    background_port: int | None = None
    readiness: Readiness | None = None
    timeout_s: int | None = None
    scratch: Scratch | None = None

    def lines(self, *, cwd: str | None, extra: Mapping[str, str] | None = None) -> list[str]:
        """The spec as the probe reads it: key=value lines (bench/workload/probe.c)."""
        lines = [f"arg={arg}" for arg in self.argv]
        lines += [f"env={key}={value}" for key, value in self.env]
        lines += [f"bg={arg}" for arg in self.background]
        if self.background_port:
            lines.append(f"bg_port={self.background_port}")
        lines += readiness_lines(self.readiness)
        if self.timeout_s:
            lines.append(f"timeout={self.timeout_s}")
        if cwd:
            lines.append(f"cwd={cwd}")
        lines += [f"{key}={value}" for key, value in (extra or {}).items()]
        broken = next((line for line in lines if "\n" in line or "\0" in line), None)
        if broken is not None:  # the config refuses them; a spec built elsewhere may not
            raise ConfigError(f"a spec line cannot hold a newline or NUL: {broken[:80]!r}")
        return lines


def readiness_lines(readiness: Readiness | None) -> list[str]:
    if readiness is None:
        return []
    lines = []
    if readiness.port:
        lines.append(f"ready_port={readiness.port}")
    if readiness.send:
        lines.append(f"ready_send_hex={readiness.send.encode().hex()}")
    if readiness.expect:
        lines.append(f"ready_expect={readiness.expect}")
    if readiness.line:
        lines.append(f"ready_line={readiness.line}")
    return lines


@dataclass(frozen=True)
class Tree:
    """A workload's files: `root` is a directory in the cache named by `digest` (a hash of
    every path, mode, link target and content), never written after it was made.
    `image` is the local Docker image it was flattened from, if any."""

    root: Path
    digest: str
    image: str | None = None
    image_id: str | None = None


@dataclass(frozen=True)
class PackagedCommand:
    """One command workload for one runtime: its tree and its spec."""

    workload: str
    tree: Tree
    spec: CommandSpec
    extra_files: Mapping[str, bytes] = field(default_factory=dict)

    def spec_digest(self) -> str:
        return hashlib.sha256("\n".join(self.spec.lines(cwd=None)).encode()).hexdigest()[:16]


def make_scratch(scratch: Scratch, name: str) -> Path:
    """The cell's scratch directory, empty (named after the instance, for `bench clean`)."""
    path = scratch.host_dir / f"{name}-scratch"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o777)
    path.chmod(0o777)  # a container's or guest's root may not be the host's
    return path


def remove_scratch(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_scratch(host_dir: Path, prefix: str, dry_run: bool) -> list[str]:
    """Scratch storage a killed run left in host_dir (directories and disk images)."""
    if not host_dir.is_dir():
        return []
    found = []
    for path in sorted(host_dir.glob(f"{prefix}*-scratch*")):
        found.append(f"scratch {path}")
        if not dry_run:
            remove_scratch(path)
    return found


class CommandCells:
    """A driver's command workloads and each live instance's scratch storage: what the
    drivers that run commands share (the packaging itself is each driver's own)."""

    def __init__(self) -> None:
        self.commands: dict[str, PackagedCommand] = {}
        self.scratch: dict[str, Path] = {}

    def set(self, commands: Mapping[str, PackagedCommand]) -> None:
        self.commands = dict(commands)

    def get(self, workload: str) -> PackagedCommand:
        from foundation.errors import InstanceError

        if workload not in self.commands:
            raise InstanceError(f"command workload {workload!r} was not packaged for this "
                                "runtime: call prepare_commands() first")
        return self.commands[workload]

    def make_scratch(self, instance: str, spec: CommandSpec) -> Path | None:
        """The instance's scratch directory (None when the workload has none)."""
        if spec.scratch is None:
            return None
        path = make_scratch(spec.scratch, instance)
        self.scratch[instance] = path
        return path

    def remove_scratch(self, instance: str) -> None:
        remove_scratch(self.scratch.pop(instance, None))


def filesystem_of(path: Path) -> str:
    """The filesystem type and device a host path lives on, from /proc/mounts."""
    best, found = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return found
    target = str(path.resolve()) if path.exists() else str(path)
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and (target == parts[1] or target.startswith(parts[1].rstrip("/") + "/")) \
                and len(parts[1]) >= len(best):
            best, found = parts[1], f"{parts[2]} on {parts[0]}"
    return found


def scratch_fingerprint(cells: CommandCells, how: str) -> dict[str, str]:
    """What a runtime's scratch storage was, for the manifest and the report."""
    dirs = sorted({str(c.spec.scratch.host_dir) for c in cells.commands.values() if c.spec.scratch})
    if not dirs:
        return {}
    return {"scratch": how, "scratch_dir": ", ".join(dirs),
            "scratch_fs": ", ".join(filesystem_of(Path(d)) for d in dirs)}
