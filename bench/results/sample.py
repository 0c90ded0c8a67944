"""The one result row every collector produces and every reader consumes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bench.results.units import direction_of, family_unit

Status = Literal["ok", "failed"]

@dataclass(frozen=True)
class Sample:
    """One measurement; a failure is a row with status 'failed' and a reason, never a zero.

    `unit` and `direction` ("lower" or "higher" is better) come from the metric family's
    row of bench.results.units unless given: a workload metric carries its own. Nothing is
    checked here: the store checks every sample it writes by the rules every reader checks
    (bench.results.validate), and writes one that breaks them as a failed sample saying why.
    """

    runtime: str
    workload: str
    metric: str
    value: float | None
    repetition: int
    unit: str = ""
    phase: str | None = None
    status: Status = "ok"
    reason: str | None = None
    cell: int = -1
    metadata: dict[str, Any] = field(default_factory=dict)
    direction: str = ""

    def __post_init__(self) -> None:
        if not self.unit:  # a workload metric without its unit stays without one: refused
            object.__setattr__(self, "unit", family_unit(self.metric) or "")
        if not self.direction:
            object.__setattr__(self, "direction", direction_of(self.metric))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def failed(cls, runtime: str, workload: str, metric: str, repetition: int,
               reason: str, cell: int = -1, unit: str = "", direction: str = "") -> Sample:
        return cls(runtime=runtime, workload=workload, metric=metric, value=None,
                   repetition=repetition, status="failed", reason=reason, cell=cell, unit=unit,
                   direction=direction)
