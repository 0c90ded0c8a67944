"""The docker driver's options: validated once, at the config's edge."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from runtimes.host.options import EngineOptions
from runtimes.host.pinning import CpuList


class DockerOptions(EngineOptions):
    endpoint: str | None = None  # None: the local socket; else unix:///... or tcp://127.0.0.1:N
    mode: Literal["fresh", "exec"] = "fresh"
    seccomp: Literal["default", "unconfined"] = "default"
    runtime: str = Field(default="runc", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    cpus: CpuList | None = None  # the container's cpuset (docker run --cpuset-cpus)

    @field_validator("endpoint")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("unix:///", "tcp://")):
            raise ValueError("a Docker endpoint looks like unix:///var/run/docker.sock "
                             "or tcp://127.0.0.1:2375")
        return value
