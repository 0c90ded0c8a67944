"""The config of a command workload (`mode: command`): a user's program, its files, how to
read its output, and what it needs (a helper server, scratch storage, a readiness check).

bench.config puts CommandWorkload in its Workload union; everything here is validated once,
strictly, like the rest of the config.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bench.results.units import OTHER_UNITS, UNIT_SCALES, known_unit
from foundation.models import Strict
from runtimes.commands import Readiness, Scratch, no_control, regex

Parser = Literal["duration", "sysbench-cpu", "sysbench-memory", "fio", "stress-ng", "iperf3",
                 "redis-benchmark"]
METRIC_NAME = r"^[a-z][a-z0-9_]*$"
# the longest a command may run: a week (the probe refuses more, bench/workload/probe.c
# TIMEOUT_MAX_S; 18446744074 s wrapped to 0.29 s in its nanoseconds before either check)
MAX_TIMEOUT_S = 7 * 24 * 3600.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class RegexMetric(Strict):
    """A metric read from any program's output: the first match of `regex` (its group
    `value`, else its first group) in the command's output lines."""

    name: str = Field(pattern=METRIC_NAME, description="the metric is workload.<name>")
    regex: str
    unit: str = Field("", max_length=32, validate_default=True,
                      description="what the number is in: a unit bench knows "
                      "(docs/results-validation.md), e.g. s, ms, MiB, count, ops/s")
    direction: Literal["lower", "higher"]

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        """Checked here, by the table every sample is checked by when written and read
        (bench.results.units), so a unit the results would refuse never starts a run."""
        if not known_unit(value):
            known = sorted((set(UNIT_SCALES) | set(OTHER_UNITS)) - {"cell"})
            problem = "required" if not value else f"{value!r} is not a unit bench knows"
            raise ValueError(f"{problem}: the unit the number is in, one of {', '.join(known)}, "
                             "or a word per second (ops/s)")
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        compiled = re.compile(regex(value))
        if compiled.groups < 1:
            raise ValueError("the regex needs a group around the number, e.g. 'took ([0-9.]+) s'")
        return value


class Background(Strict):
    """A helper the command talks to (a server on the instance's loopback), started first
    and waited for until 127.0.0.1:`port` accepts; stopped when the command ends."""

    argv: tuple[str, ...] = Field(min_length=1)
    port: int = Field(ge=1, le=65535)

    _argv = field_validator("argv")(no_control)


class Override(Strict):
    """What one runtime runs instead (e.g. a shorter run in a TCG guest)."""

    argv: tuple[str, ...] | None = Field(None, min_length=1)
    timeout: float | None = Field(None, gt=0, le=MAX_TIMEOUT_S)

    _argv = field_validator("argv")(no_control)


class CommandWorkload(Strict):
    """A user's program, supervised by the probe in every runtime."""

    mode: Literal["command"]
    argv: tuple[str, ...] = Field((), description="the command; default an image's entrypoint")
    image: str | None = Field(None, min_length=1, description="a local Docker image whose "
                              "flattened filesystem holds the files (never pulled)")
    executables: tuple[str, ...] = Field((), description="more programs to package with "
                                         "their libraries (by path, or found on PATH)")
    files: tuple[str, ...] = Field((), description="more host files or directories (absolute)")
    env: dict[str, str] = Field(default_factory=dict, description="added to PATH=... (host "
                                "trees) or to the image's environment")
    parser: Parser = "duration"
    metrics: tuple[RegexMetric, ...] = ()
    background: Background | None = None
    readiness: Readiness | None = None
    scratch: Scratch | None = None
    timeout: float = Field(300.0, gt=0, le=MAX_TIMEOUT_S,
                           description="seconds the command may run (at most a week)")
    runtimes: tuple[str, ...] | None = Field(None, min_length=1, description="run only on these")
    overrides: dict[str, Override] = Field(default_factory=dict, description="per runtime name")

    _argv = field_validator("argv")(no_control)

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        for key, value in env.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"{key!r} is not an environment variable name")
            no_control((value,))
        return env

    @model_validator(mode="after")
    def _source(self) -> CommandWorkload:
        if not self.argv and self.image is None:
            raise ValueError("argv is required (only an image has a default command)")
        if self.image is not None and (self.executables or self.files):
            raise ValueError("an image brings its own files: executables and files are for "
                             "host programs")
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError("two metrics have one name")
        return self

    def runs_on(self, runtime: str) -> bool:
        return self.runtimes is None or runtime in self.runtimes
