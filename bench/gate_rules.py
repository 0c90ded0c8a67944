"""The gate's rules as config models: the `gate:` section of a run config, or a --rules file.

Kept apart from bench.gate so that bench.config can import these models without pulling in
the gate's statistics, pandas or the store. It imports only pydantic: bench.config imports it
at the top, so importing bench.config from here would be a cycle. The models follow
bench.config.Strict's policy (unknown keys rejected, frozen).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Every metric today is better when lower; a family missing here is treated as lower-is-better.
DIRECTIONS: dict[str, Literal["lower", "higher"]] = {
    "boot": "lower", "memory": "lower", "syscall": "lower", "cell": "lower"}

# unit -> (dimension, factor to the dimension's base unit)
UNIT_SCALES: dict[str, tuple[str, float]] = {
    "ns": ("time", 1e-9), "us": ("time", 1e-6), "µs": ("time", 1e-6), "ms": ("time", 1e-3),
    "s": ("time", 1.0), "B": ("bytes", 1.0), "bytes": ("bytes", 1.0), "KiB": ("bytes", 1024.0),
    "MiB": ("bytes", 1024.0**2), "GiB": ("bytes", 1024.0**3), "kB": ("bytes", 1e3),
    "MB": ("bytes", 1e6), "GB": ("bytes", 1e9)}
QUANTITY = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ]*)\s*$")

# A number is in the metric's own unit (ms for boot, ns for syscall, bytes for memory);
# a string may name its unit: "0.5 ms", "10 ns", "1 MiB".
Quantity = float | str


class Strict(BaseModel):
    """bench.config.Strict's policy: unknown keys are errors; loaded objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_quantity(value: Quantity, unit: str) -> float:
    """A rule's quantity in the metric's unit; ValueError names what is wrong."""
    if isinstance(value, int | float):
        return float(value)
    match = QUANTITY.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a number with an optional unit (e.g. '0.5 ms')")
    number, given = float(match.group(1)), match.group(2)
    if not given or given == unit:
        return number
    if given not in UNIT_SCALES:
        raise ValueError(f"unknown unit {given!r} in {value!r} (known: {', '.join(UNIT_SCALES)})")
    if unit not in UNIT_SCALES or UNIT_SCALES[given][0] != UNIT_SCALES[unit][0]:
        raise ValueError(f"{value!r} cannot be converted to {unit}")
    return number * UNIT_SCALES[given][1] / UNIT_SCALES[unit][1]


def check_quantity(value: Quantity) -> Quantity:
    if isinstance(value, str):
        match = QUANTITY.match(value)
        if not match or (match.group(2) and match.group(2) not in UNIT_SCALES):
            raise ValueError("expected a number, or a number and a unit of time or bytes")
    return value


class RuleBase(Strict):
    """Which rows a rule applies to: fnmatch patterns on metric, runtime and workload."""

    metric: str = Field(description="fnmatch pattern, e.g. 'boot.*' or 'syscall.getppid'")
    runtime: str = Field(default="*", description="fnmatch pattern on the runtime name")
    workload: str = Field(default="*", description="fnmatch pattern on the workload name")
    name: str | None = Field(default=None, description="label in reports (default: made from the rule)")
    alpha: float | None = Field(default=None, gt=0, lt=0.5, description="overrides the gate's alpha")
    direction: Literal["lower", "higher"] | None = Field(
        default=None, description="which way is better (default: from the metric family)")


class RelativeRule(RuleBase):
    """Candidate against baseline: fail on a significant regression that may reach `percent`."""

    kind: Literal["relative"]
    percent: float = Field(gt=0, le=10_000, description="largest tolerated change of medians, %")
    floor: Quantity = Field(default=0.0, description="smallest change that counts, in the metric's unit")

    _floor = field_validator("floor")(check_quantity)


class RatioRule(RuleBase):
    """Within one run: a runtime's median at most `limit` times the reference runtime's."""

    kind: Literal["ratio"]
    limit: float = Field(gt=0, description="largest tolerated ratio of medians")
    against: str | None = Field(default=None, description="reference runtime (default: the run's "
                                "process baseline)")


class AbsoluteRule(RuleBase):
    """Within one run: a runtime's median at most `limit` (in the metric's unit)."""

    kind: Literal["absolute"]
    limit: Quantity

    _limit = field_validator("limit")(check_quantity)


Rule = Annotated[RelativeRule | RatioRule | AbsoluteRule, Field(discriminator="kind")]


def default_rules() -> list[Rule]:
    """What `bench gate` checks when neither --rules nor the run config has a gate section."""
    return [RelativeRule(kind="relative", metric="boot.total", percent=10, floor="0.5 ms"),
            RelativeRule(kind="relative", metric="syscall.*", percent=10, floor="10 ns"),
            RelativeRule(kind="relative", metric="memory.overhead", percent=10, floor="1 MiB")]


class GateConfig(Strict):
    """The `gate:` section: rules, the significance level and the test's sidedness."""

    alpha: float = Field(default=0.01, gt=0, lt=0.5, description="significance level of every rule")
    test: Literal["two-sided", "one-sided"] = Field(
        default="two-sided", description="Mann-Whitney U of relative rules: two-sided, or one-sided "
        "in the direction being tested")
    sample_unit: Literal["repetition", "sample"] = Field(
        default="repetition", description="what one observation is: the median of each "
        "repetition (one instance), or every sample (syscall batches of one instance are "
        "correlated, so pooling them overstates significance)")
    rules: list[Rule] = Field(default_factory=default_rules, min_length=1)
    ab: list[str] = Field(default_factory=list, description="A/B pairs 'baseline:candidate' "
                          "of runtimes in the same run, gated with the relative rules")

    @field_validator("ab")
    @classmethod
    def _pairs(cls, pairs: list[str]) -> list[str]:
        for pair in pairs:
            parse_pair(pair)
        return pairs


def parse_pair(pair: str) -> tuple[str, str]:
    """'docker-unconfined:docker-default' -> (baseline variant, candidate variant)."""
    parts = pair.split(":")
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise ValueError(f"expected BASELINE:CANDIDATE, two different runtime names, got {pair!r}")
    return parts[0], parts[1]


def rule_label(rule: Rule) -> str:
    if rule.name:
        return rule.name
    where = "" if (rule.runtime, rule.workload) == ("*", "*") else \
        f" [{rule.runtime}/{rule.workload}]"
    match rule:
        case RelativeRule():
            floor = f", floor {rule.floor}" if rule.floor else ""
            return f"{rule.metric}{where} relative {rule.percent:g} %{floor}"
        case RatioRule():
            return f"{rule.metric}{where} ratio <= {rule.limit:g}x {rule.against or 'baseline runtime'}"
        case _:
            return f"{rule.metric}{where} median <= {rule.limit}"
