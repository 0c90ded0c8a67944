"""The run config: YAML validated once, strictly, at the edge.

After load_config() the rest of bench receives typed, frozen objects. Every error
becomes one line that names the dotted key and what was expected.

Whatever a config holds, loading it ends in a Config or in one ConfigError (exit 2): the
YAML is read within bounds (foundation.yaml_input: size, depth, alias expansion, repeated
keys), every number is bounded (a repetition count, a timeout and a settle that a run can
finish, a plan of at most MAX_CELLS cells), and runtime and workload names follow one rule
that every driver can use (NAME_RULE), checked here rather than by a driver mid-run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    ByteSize,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from bench.gate.rules import RULE_TAGS, GateConfig
from bench.history.settings import HistoryConfig
from bench.workload.spec import CommandWorkload
from foundation.errors import ConfigError
from foundation.models import Strict, describe_errors, key_text
from foundation.yaml_input import load_yaml, read_text
from runtimes.base import DriverOptions

if TYPE_CHECKING:
    from bench.drivers import Registry

# Runtime and workload names become parts of container names, hostnames (a DNS label: at
# most 63 characters, the run id and serials included), cgroup directories, libvirt domain
# names and file names: the rule is the strictest of them, a lowercase DNS-1123 label.
NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
NAME_RULE = ("a name is 1 to 32 lowercase letters, digits and '-', starting and ending with a "
             "letter or digit (it becomes part of container names, hostnames, cgroup "
             "directories, domain names and file names)")
MAX_CELLS = 100_000  # cells in one plan (every repetition and warm-up of every pair)
MAX_INSTANCES = 10_000  # instances of one density rung
MAX_STORM = 1_024  # instances of one storm (a thread each while it starts)
RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*/\s*(s|min)\s*$")
DAY_S = 86_400.0
HOUR_S = 3_600.0


def ascending(counts: tuple[int, ...], most: int, key: str) -> tuple[int, ...]:
    """Instance counts as a ladder or a storm takes them: distinct, 1 to `most`, ascending."""
    if any(n < 1 or n > most for n in counts) or list(counts) != sorted(set(counts)):
        raise ValueError(f"{key} must be distinct numbers from 1 to {most} in ascending order")
    return counts


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
    counts: tuple[int, ...] = Field(min_length=1, max_length=1_000,
                                    description="instance counts, ascending")
    concurrency: int = Field(4, ge=1, le=256, description="instances started at once")
    settle: float = Field(5.0, ge=0, le=HOUR_S,
                          description="seconds the host rests before memory is read")
    min_available: ByteSize = Field(ByteSize(2 << 30), le=1 << 62, description="stop early below "
                                    "this MemAvailable, rather than push the host into swap or OOM")
    max_count: dict[str, Annotated[int, Field(ge=1, le=MAX_INSTANCES)]] = Field(
        default_factory=dict, description="per-runtime cap on N")
    drop_caches: bool = Field(True, description="drop the page cache before each MemAvailable read")
    readings: int = Field(6, ge=1, le=100, description="memory readings at each N (and of the "
                          "host before and after the ladder): their spread is the interval")

    @field_validator("counts")
    @classmethod
    def _ascending(cls, counts: tuple[int, ...]) -> tuple[int, ...]:
        return ascending(counts, MAX_INSTANCES, "counts")


class StormWorkload(Strict):
    """N instances started at once from a barrier (bursts of each `concurrency`), or one
    after another at a steady `rate` for `duration` seconds: each instance's start-to-ready,
    the storm's percentiles, throughput and failures, and host memory with all N alive
    (bench/storm.py). One storm is the unit of the statistics."""

    mode: Literal["storm"]
    concurrency: tuple[int, ...] = Field((), max_length=100,
                                         description="burst sizes N, ascending")
    rate: float | None = Field(None, gt=0, le=10_000, description="arrivals per second "
                               "('20/s', '30/min'), instead of bursts")
    duration: float = Field(3.0, gt=0, le=HOUR_S, description="seconds of arrivals at `rate`")
    max_count: dict[str, Annotated[int, Field(ge=1, le=MAX_STORM)]] = Field(
        default_factory=dict, description="per-runtime cap on a burst's N")
    runtimes: tuple[str, ...] | None = Field(None, min_length=1, description="the runtimes "
                                             "this workload runs on (default: every one)")
    min_available: ByteSize = Field(ByteSize(2 << 30), le=1 << 62, description="the pre-flight "
                                    "refuses an N whose guests' memory would leave less than "
                                    "this MemAvailable")

    @field_validator("concurrency")
    @classmethod
    def _ascending(cls, counts: tuple[int, ...]) -> tuple[int, ...]:
        return ascending(counts, MAX_STORM, "concurrency")

    @field_validator("rate", mode="before")
    @classmethod
    def _per_second(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = RATE.match(value)
        if not match:
            raise ValueError("a rate looks like 20/s or 30/min")
        return float(match.group(1)) / (60.0 if match.group(2) == "min" else 1.0)

    @model_validator(mode="after")
    def _bursts_or_rate(self) -> StormWorkload:
        if (self.rate is None) == (not self.concurrency):
            raise ValueError("a storm has either concurrency (bursts) or rate (steady arrivals)")
        if self.rate is not None and not 1 <= self.arrivals() <= MAX_STORM:
            raise ValueError(f"rate x duration must come to 1 to {MAX_STORM} instances")
        if self.rate is not None and self.max_count:
            raise ValueError("max_count caps bursts; a steady rate's runtimes are chosen with "
                             "`runtimes`")
        return self

    def arrivals(self) -> int:
        """How many instances a steady-rate storm starts."""
        return round((self.rate or 0.0) * self.duration)

    def counts(self, runtime: str) -> tuple[int, ...]:
        """The storms' sizes N for this runtime: its bursts under its cap, or the arrivals."""
        if self.rate is not None:
            return (self.arrivals(),)
        cap = self.max_count.get(runtime)
        return tuple(n for n in self.concurrency if cap is None or n <= cap)


Workload = Annotated[ReadyWorkload | SyscallWorkload | MemtouchWorkload | DensityWorkload
                     | StormWorkload | CommandWorkload, Field(discriminator="mode")]


class RuntimeSpec(Strict):
    """A named instance of a driver; its options are the driver's own typed model, validated
    once here (parse_config), so drivers receive them typed."""

    driver: str
    options: SerializeAsAny[DriverOptions] = Field(default_factory=DriverOptions)
    repetitions: int | None = Field(None, ge=1, le=100_000,
                                    description="overrides the run's repetitions")
    warmup: int | None = Field(None, ge=0, le=1_000,
                               description="overrides the run's warm-up repetitions")


class Config(Strict):
    description: str = Field("", max_length=10_000)
    repetitions: int = Field(5, ge=1, le=100_000)
    warmup: int = Field(1, ge=0, le=1_000, description="unrecorded repetitions run first")
    cell_timeout: float = Field(60.0, gt=0, le=DAY_S, description="seconds one cell may take")
    settle: float = Field(1.0, ge=0, le=HOUR_S,
                          description="seconds an idle instance rests before memory is read")
    pause: float = Field(0.2, ge=0, le=HOUR_S,
                         description="seconds the host rests before each cell, so no instance "
                         "starts in the wake of the previous cell's teardown; then a random part "
                         "of one kernel tick more, so no start is held at one phase of the tick")
    output: str = Field("results", min_length=1, max_length=4096,
                        description="folder that receives one results directory per run")
    baseline: str | None = Field(None, description="runtime that ratios and memory.overhead are "
                                 "taken against (default: the first with the process driver)")
    runtimes: dict[str, RuntimeSpec] = Field(min_length=1)
    skip_unavailable: bool = Field(False, description="run the runtimes this host can run and "
                                   "record the others with the reason (default: refuse the run)")
    workloads: dict[str, Workload] = Field(min_length=1)
    gate: GateConfig | None = Field(None, description="rules for `bench gate` (bench/gate/rules.py)")
    history: HistoryConfig | None = Field(None, description="record every run in this history "
                                          "store (docs/history.md)")

    @field_validator("output")
    @classmethod
    def _printable_path(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("a folder path without control characters")
        return value

    def repetitions_of(self, runtime: str) -> int:
        return self.runtimes[runtime].repetitions or self.repetitions

    def warmup_of(self, runtime: str) -> int:
        own = self.runtimes[runtime].warmup
        return self.warmup if own is None else own

    def runs(self, workload: str, runtime: str) -> bool:
        """Whether the plan pairs this workload with this runtime (a command workload may
        name the runtimes it runs on)."""
        spec = self.workloads[workload]
        if isinstance(spec, StormWorkload):
            return spec.runtimes is None or runtime in spec.runtimes
        return not isinstance(spec, CommandWorkload) or spec.runs_on(runtime)


MODES = frozenset({"ready", "syscall", "memtouch", "density", "storm", "command"})
UNION_TAGS = {"workloads": MODES, **RULE_TAGS}


def describe(error: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    return describe_errors(error, prefix, UNION_TAGS)


def with_typed_options(document: dict[str, Any], source: str,
                       registry: Registry | None = None) -> dict[str, Any]:
    """The document with each runtime's options validated by its driver's Options model
    (drivers from the registry, the installed ones unless told).

    Entries too malformed to say which driver they name are left as they are, for the
    Config model to report.
    """
    from bench.drivers import INSTALLED, driver_class  # loading a driver imports its package

    runtimes = document.get("runtimes")
    if not isinstance(runtimes, dict):
        return document
    typed = {}
    for name, spec in runtimes.items():
        if isinstance(spec, dict) and isinstance(spec.get("driver"), str):
            cls = driver_class(spec["driver"], f"{source}: runtimes.{name}.driver",
                               registry or INSTALLED)
            try:
                spec = {**spec, "options": cls.Options.model_validate(spec.get("options", {}))}
            except ValidationError as error:
                where = ("runtimes", str(name), "options")
                raise ConfigError(f"{source}: {describe(error, where)}") from None
        typed[name] = spec
    return {**document, "runtimes": typed}


def check_names(document: dict[str, Any], source: str) -> None:
    """Runtime and workload names follow NAME_RULE: refused here, before any driver sees one."""
    for section in ("runtimes", "workloads"):
        entries = document.get(section)
        if not isinstance(entries, dict):
            continue
        for name in entries:
            if not (isinstance(name, str) and NAME.fullmatch(name)):
                raise ConfigError(f"{source}: {section}.{key_text(name)[:60]}: {NAME_RULE}")


def check_references(config: Config, source: str) -> None:
    """Names that point at runtimes name configured ones."""
    if config.baseline is not None and config.baseline not in config.runtimes:
        raise ConfigError(f"{source}: baseline: {key_text(config.baseline)[:60]} is not one of the "
                          "runtimes")
    for workload_name, workload in config.workloads.items():
        if isinstance(workload, DensityWorkload):
            for name in workload.max_count:
                if name not in config.runtimes:
                    raise ConfigError(f"{source}: workloads.{workload_name}.max_count."
                                      f"{key_text(name)[:60]}: not one of the runtimes")
        if isinstance(workload, StormWorkload):
            named = [("max_count", r) for r in workload.max_count]
            named += [("runtimes", r) for r in workload.runtimes or ()]
            for key, name in named:
                if name not in config.runtimes:
                    raise ConfigError(f"{source}: workloads.{workload_name}.{key}: "
                                      f"{key_text(name)[:60]} is not one of the runtimes")


def plan_size(config: Config) -> int:
    """How many cells make_plan would build, counted without building them."""
    rounds = {name: config.warmup_of(name) + config.repetitions_of(name) for name in config.runtimes}
    density = sum(isinstance(w, DensityWorkload) for w in config.workloads.values())
    storms = [w for w in config.workloads.values() if isinstance(w, StormWorkload)]
    plain = len(config.workloads) - density - len(storms)
    return sum(plain * total + density * config.repetitions_of(name)
               + sum(len(w.counts(name)) * config.repetitions_of(name)
                     + min(1, len(w.counts(name))) * config.warmup_of(name) for w in storms)
               for name, total in rounds.items())


def parse_config(document: Any, source: str = "config", registry: Registry | None = None) -> Config:
    """Validate a loaded document, each runtime's options by its driver's Options model
    (drivers from the registry, the installed ones unless told)."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    check_names(document, source)
    try:
        config = Config.model_validate(with_typed_options(document, source, registry))
    except ValidationError as error:
        raise ConfigError(f"{source}: {describe(error)}") from None
    check_references(config, source)
    cells = plan_size(config)
    if cells > MAX_CELLS:
        raise ConfigError(f"{source}: the plan would have {cells} cells (runtimes x workloads x "
                          f"warm-up and repetitions); at most {MAX_CELLS}: lower repetitions")
    check_command_runtimes(config, source)
    return config


def check_command_runtimes(config: Config, source: str) -> None:
    """A command workload's `runtimes` and `overrides` name runtimes of this config."""
    for name, workload in config.workloads.items():
        if not isinstance(workload, CommandWorkload):
            continue
        named = [("runtimes", r) for r in workload.runtimes or ()]
        named += [("overrides", r) for r in workload.overrides]
        for key, runtime in named:
            if runtime not in config.runtimes:
                raise ConfigError(f"{source}: workloads.{name}.{key}: {runtime!r} is not one of "
                                  "the runtimes")


def load_config(path: Path, registry: Registry | None = None) -> Config:
    try:
        text = read_text(path)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config ({error.strerror or error})") from None
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    try:
        document = load_yaml(text)
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    return parse_config(document, str(path), registry)
