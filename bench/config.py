"""The run config: YAML validated once, strictly, at the edge.

After load_config() the rest of bench receives typed, frozen objects. Every error
becomes one line that names the dotted key and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import ByteSize, Field, SerializeAsAny, ValidationError, field_validator

from bench.errors import ConfigError
from bench.gate.rules import RULE_TAGS, GateConfig
from runtimes.base import DriverOptions
from runtimes.models import Strict, describe_errors


class ReadyWorkload(Strict):
    """Start, print the ready marker, idle: boot time and idle memory."""

    mode: Literal["ready"]


class SyscallWorkload(Strict):
    """Time syscalls in batches inside the instance."""

    mode: Literal["syscall"]
    batches: int = Field(30, ge=1, le=10_000)
    calls: int = Field(5_000, ge=1, le=1_000_000, description="calls per batch")
    warmup: int = Field(3, ge=0, le=1_000, description="batches run first and discarded")


class MemtouchWorkload(Strict):
    """Touch N MiB inside the instance, then idle: memory under load."""

    mode: Literal["memtouch"]
    mib: int = Field(64, ge=0, le=1 << 20)


class DensityWorkload(Strict):
    """Many idle instances at once: memory per instance and start time as N grows."""

    mode: Literal["density"]
    counts: tuple[int, ...] = Field(min_length=1, description="instance counts, ascending")
    concurrency: int = Field(4, ge=1, le=256, description="instances started at once")
    settle: float = Field(5.0, ge=0, description="seconds the host rests before memory is read")
    min_available: ByteSize = Field(ByteSize(2 << 30), description="stop early below this "
                                    "MemAvailable, rather than push the host into swap or OOM")
    max_count: dict[str, int] = Field(default_factory=dict, description="per-runtime cap on N")
    drop_caches: bool = Field(True, description="drop the page cache before each MemAvailable read")
    readings: int = Field(6, ge=1, le=100, description="memory readings at each N (and of the "
                          "host before and after the ladder): their spread is the interval")

    @field_validator("counts")
    @classmethod
    def _ascending(cls, counts: tuple[int, ...]) -> tuple[int, ...]:
        if any(n < 1 for n in counts) or list(counts) != sorted(set(counts)):
            raise ValueError("counts must be distinct positive numbers in ascending order")
        return counts


Workload = Annotated[ReadyWorkload | SyscallWorkload | MemtouchWorkload | DensityWorkload,
                     Field(discriminator="mode")]


class RuntimeSpec(Strict):
    """A named instance of a driver; its options are the driver's own typed model, validated
    once here (parse_config), so drivers receive them typed."""

    driver: str
    options: SerializeAsAny[DriverOptions] = Field(default_factory=DriverOptions)
    repetitions: int | None = Field(None, ge=1, description="overrides the run's repetitions")
    warmup: int | None = Field(None, ge=0, description="overrides the run's warm-up repetitions")


class Config(Strict):
    description: str = ""
    repetitions: int = Field(5, ge=1, le=100_000)
    warmup: int = Field(1, ge=0, le=1_000, description="unrecorded repetitions run first")
    cell_timeout: float = Field(60.0, gt=0, description="seconds one cell may take")
    settle: float = Field(1.0, ge=0, description="seconds an idle instance rests before memory is read")
    output: str = Field("results", description="folder that receives one results directory per run")
    baseline: str | None = Field(None, description="runtime that ratios and memory.overhead are "
                                 "taken against (default: the first with the process driver)")
    runtimes: dict[str, RuntimeSpec] = Field(min_length=1)
    workloads: dict[str, Workload] = Field(min_length=1)
    gate: GateConfig | None = Field(None, description="rules for `bench gate` (bench/gate_rules.py)")

    def repetitions_of(self, runtime: str) -> int:
        return self.runtimes[runtime].repetitions or self.repetitions

    def warmup_of(self, runtime: str) -> int:
        own = self.runtimes[runtime].warmup
        return self.warmup if own is None else own


MODES = frozenset({"ready", "syscall", "memtouch", "density"})
UNION_TAGS = {"workloads": MODES, **RULE_TAGS}


def describe(error: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    return describe_errors(error, prefix, UNION_TAGS)


def with_typed_options(document: dict[str, Any], source: str) -> dict[str, Any]:
    """The document with each runtime's options validated by its driver's Options model.

    Entries too malformed to say which driver they name are left as they are, for the
    Config model to report.
    """
    from bench.drivers import driver_class  # the registry imports driver modules

    runtimes = document.get("runtimes")
    if not isinstance(runtimes, dict):
        return document
    typed = {}
    for name, spec in runtimes.items():
        if isinstance(spec, dict) and isinstance(spec.get("driver"), str):
            cls = driver_class(spec["driver"], f"{source}: runtimes.{name}.driver")
            try:
                spec = {**spec, "options": cls.Options.model_validate(spec.get("options", {}))}
            except ValidationError as error:
                where = ("runtimes", str(name), "options")
                raise ConfigError(f"{source}: {describe(error, where)}") from None
        typed[name] = spec
    return {**document, "runtimes": typed}


def parse_config(document: Any, source: str = "config") -> Config:
    """Validate a loaded document, each runtime's options by its driver's Options model."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    try:
        config = Config.model_validate(with_typed_options(document, source))
    except ValidationError as error:
        raise ConfigError(f"{source}: {describe(error)}") from None
    for name in config.runtimes:
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise ConfigError(f"{source}: runtimes.{name}: names may use letters, digits, '-', '_', '.'")
    if config.baseline is not None and config.baseline not in config.runtimes:
        raise ConfigError(f"{source}: baseline: {config.baseline!r} is not one of the runtimes")
    return config


def load_config(path: Path) -> Config:
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config ({error.strerror})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "malformed YAML"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    return parse_config(document, str(path))
