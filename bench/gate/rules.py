"""The gate's rules: the `gate:` section of a run config, or a --rules file.

Kept apart from bench.gate.evaluate so that bench.config can import these types without
pulling in the gate's statistics. They are frozen dataclasses, not pydantic models
(foundation.checks says why): `bench gate` with its default rules never loads pydantic;
parse_gate validates a section with the same strictness as the rest of a run config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from bench.results.units import is_quantity
from foundation.checks import STRICT, Check
from foundation.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import TypeAdapter

# A number is in the metric's own unit (ms for boot, ns for syscall, bytes for memory);
# a string may name its unit: "0.5 ms", "10 ns", "1 MiB".


def check_quantity(value: float | str) -> float | str:
    if isinstance(value, str) and not is_quantity(value):
        raise ValueError("expected a number, or a number and a unit of time or bytes")
    return value


Quantity = Annotated[float | str, Check(number=True, after=check_quantity)]
Alpha = Annotated[float, Check(number=True, gt=0, lt=0.5)]


@dataclass(frozen=True, kw_only=True)
class RuleBase:
    """Which rows a rule applies to: fnmatch patterns on metric, runtime and workload.

    metric: e.g. 'boot.*' or 'syscall.getppid'; name: the label in reports (default: made
    from the rule); alpha overrides the gate's; direction: which way is better (default:
    from the metric family).
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    metric: str
    runtime: str = "*"
    workload: str = "*"
    name: str | None = None
    alpha: Alpha | None = None
    direction: Literal["lower", "higher"] | None = None


@dataclass(frozen=True, kw_only=True)
class RelativeRule(RuleBase):
    """Candidate against baseline: fail on a significant regression that may reach `percent`
    (the largest tolerated change of medians, %); a change under `floor` (in the metric's
    unit) never counts."""

    kind: Literal["relative"]
    percent: Annotated[float, Check(number=True, gt=0, le=10_000)]
    floor: Quantity = 0.0


@dataclass(frozen=True, kw_only=True)
class RatioRule(RuleBase):
    """Within one run: a runtime's median at most `limit` times the reference runtime's
    (`against`; default: the run's process baseline)."""

    kind: Literal["ratio"]
    limit: Annotated[float, Check(number=True, gt=0)]
    against: str | None = None


@dataclass(frozen=True, kw_only=True)
class AbsoluteRule(RuleBase):
    """Within one run: a runtime's median at most `limit` (in the metric's unit)."""

    kind: Literal["absolute"]
    limit: Quantity


Rule = Annotated[RelativeRule | RatioRule | AbsoluteRule, Check(discriminator="kind")]
# the tags pydantic puts in an error's location, dropped when the dotted key is shown
RULE_TAGS = {"rules": frozenset({"relative", "ratio", "absolute"})}


def default_rules() -> list[Rule]:
    """What `bench gate` checks when neither --rules nor the run config has a gate section."""
    return [RelativeRule(kind="relative", metric="boot.total", percent=10, floor="0.5 ms"),
            RelativeRule(kind="relative", metric="syscall.*", percent=10, floor="10 ns"),
            RelativeRule(kind="relative", metric="memory.overhead", percent=10, floor="1 MiB")]


def check_pairs(pairs: list[str]) -> list[str]:
    for pair in pairs:
        parse_pair(pair)
    return pairs


@dataclass(frozen=True, kw_only=True)
class GateConfig:
    """The `gate:` section: rules, the significance level and the test's sidedness.

    alpha: the chance that identical code fails the gate (Holm's correction over every row
    of the gate). test: Mann-Whitney U of relative rules, two-sided or one-sided in the
    direction being tested. sample_unit: what one observation is, the median of each
    repetition (one instance) or every sample (syscall batches of one instance are
    correlated, so pooling them overstates significance). ab: A/B pairs
    'baseline:candidate' of runtimes in the same run, gated with the relative rules.
    calibration: a file from `bench calibrate`, how much each row moves between sittings of
    identical code, added to the variance of a change between runs.
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    alpha: Alpha = 0.01
    test: Literal["two-sided", "one-sided"] = "two-sided"
    sample_unit: Literal["repetition", "sample"] = "repetition"
    rules: Annotated[list[Rule], Check(min_length=1)] = field(default_factory=default_rules)
    ab: Annotated[list[str], Check(after=check_pairs)] = field(default_factory=list)
    calibration: str | None = None

    @property
    def per_instance(self) -> bool:
        """Whether one observation is an instance's median (else every sample counts)."""
        return self.sample_unit == "repetition"


@cache
def gate_adapter() -> TypeAdapter[GateConfig]:
    from pydantic import TypeAdapter

    return TypeAdapter(GateConfig)


def parse_gate(document: object) -> GateConfig:
    """A gate section from YAML or JSON, validated; ConfigError names each bad key."""
    from pydantic import ValidationError

    from foundation.models import describe_errors

    try:
        return gate_adapter().validate_python(document)
    except ValidationError as error:
        raise ConfigError(describe_errors(error, (), RULE_TAGS)) from None


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
