"""The gate's rules as config models: the `gate:` section of a run config, or a --rules file.

Kept apart from bench.gate.evaluate so that bench.config can import these models without
pulling in the gate's statistics or pandas.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from bench.results.units import is_quantity
from runtimes.models import Strict

# A number is in the metric's own unit (ms for boot, ns for syscall, bytes for memory);
# a string may name its unit: "0.5 ms", "10 ns", "1 MiB".
Quantity = float | str


def check_quantity(value: Quantity) -> Quantity:
    if isinstance(value, str) and not is_quantity(value):
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
# the tags pydantic puts in an error's location, dropped when the dotted key is shown
RULE_TAGS = {"rules": frozenset({"relative", "ratio", "absolute"})}


def default_rules() -> list[Rule]:
    """What `bench gate` checks when neither --rules nor the run config has a gate section."""
    return [RelativeRule(kind="relative", metric="boot.total", percent=10, floor="0.5 ms"),
            RelativeRule(kind="relative", metric="syscall.*", percent=10, floor="10 ns"),
            RelativeRule(kind="relative", metric="memory.overhead", percent=10, floor="1 MiB")]


class GateConfig(Strict):
    """The `gate:` section: rules, the significance level and the test's sidedness."""

    alpha: float = Field(default=0.01, gt=0, lt=0.5, description="the chance that identical "
                         "code fails the gate (Holm's correction over every row of the gate)")
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
    calibration: str | None = Field(
        default=None, description="a file from `bench calibrate`: how much each row moves "
        "between sittings of identical code, added to the variance of a change between runs")

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
