"""The options runtimes share, so a config can hold one runtime's limits against another's:
ContainerOptions for those that isolate our rootfs (native, oci, lxc), EngineOptions for
the container engines (docker, podman)."""

from __future__ import annotations

from typing import Literal

from pydantic import ByteSize, Field, PositiveInt, field_validator

from runtimes.base import DriverOptions
from runtimes.host.cgroups import MAX_MEMORY_LIMIT, MAX_PIDS_LIMIT, Limits, whole_pages

HOSTNAME_MAX = 64
MIN_MEMORY_LIMIT = 6 * 1024**2  # dockerd's own floor


class ContainerOptions(DriverOptions):
    # bounded to what the kernel holds as given: whole pages, under its "no limit" values,
    # pids.max under PID_MAX_LIMIT (a larger value would be applied as something else)
    memory_limit: ByteSize = Field(ByteSize(256 * 1024**2), gt=4 * 1024**2, le=MAX_MEMORY_LIMIT,
                                   description="the instance cgroup's memory limit (no swap)")
    pids_limit: int = Field(64, ge=2, le=MAX_PIDS_LIMIT,
                            description="tasks the instance cgroup may hold")
    hostname: str | None = Field(None, min_length=1, max_length=HOSTNAME_MAX,
                                 pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$",
                                 description="the instance's hostname (default: its name)")

    _pages = field_validator("memory_limit")(whole_pages)

    def limits(self) -> Limits:
        return Limits(int(self.memory_limit), self.pids_limit)

    def hostname_of(self, instance_name: str) -> str:
        """The configured hostname, else the instance's name cut to what a hostname may hold."""
        return self.hostname or instance_name[:HOSTNAME_MAX]


class EngineOptions(DriverOptions):
    """The limits a container engine applies. Null is no limit; a number is bounded to what
    the engine and the kernel apply as given (dockerd refuses under 6 MiB, and would take 0
    to mean no limit at all). The memory limit is memory with no swap."""

    memory_limit: ByteSize | None = Field(None, ge=MIN_MEMORY_LIMIT, le=MAX_MEMORY_LIMIT)
    pids_limit: PositiveInt | None = Field(None, le=MAX_PIDS_LIMIT)
    pull: Literal["never", "cold", "warm"] = Field(
        "never", description="start from the image built here (never), or from the run's "
        "registry on loopback: pulled before every instance, timed as pull.* (cold), or "
        "pulled once before the first cell (warm)")

    @field_validator("memory_limit")
    @classmethod
    def _pages(cls, value: ByteSize | None) -> ByteSize | None:
        return value if value is None else ByteSize(whole_pages(value))
