"""The docker driver's options: validated once, at the config's edge."""

from __future__ import annotations

from typing import Literal

from pydantic import ByteSize, Field, PositiveInt, field_validator

from runtimes.base import DriverOptions
from runtimes.host.cgroups import MAX_MEMORY_LIMIT, MAX_PIDS_LIMIT, whole_pages
from runtimes.host.pinning import CpuList

MIN_MEMORY_LIMIT = 6 * 1024**2  # dockerd's own floor


class DockerOptions(DriverOptions):
    endpoint: str | None = None  # None: the local socket; else unix:///... or tcp://127.0.0.1:N
    mode: Literal["fresh", "exec"] = "fresh"
    seccomp: Literal["default", "unconfined"] = "default"
    # null is no limit; a number is bounded to what the engine and the kernel apply as given
    # (dockerd refuses under 6 MiB, and would take 0 to mean no limit at all)
    memory_limit: ByteSize | None = Field(None, ge=MIN_MEMORY_LIMIT, le=MAX_MEMORY_LIMIT)
    pids_limit: PositiveInt | None = Field(None, le=MAX_PIDS_LIMIT)
    runtime: str = Field(default="runc", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    cpus: CpuList | None = None  # the container's cpuset (docker run --cpuset-cpus)

    @field_validator("memory_limit")
    @classmethod
    def _pages(cls, value: ByteSize | None) -> ByteSize | None:
        return value if value is None else ByteSize(whole_pages(value))

    @field_validator("endpoint")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("unix:///", "tcp://")):
            raise ValueError("a Docker endpoint looks like unix:///var/run/docker.sock "
                             "or tcp://127.0.0.1:2375")
        return value
