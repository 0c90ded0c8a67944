"""The one result row every collector produces and every reader consumes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bench.results.units import direction_of, unit_of

Status = Literal["ok", "failed"]

@dataclass(frozen=True)
class Sample:
    """One measurement; a failure is a row with status 'failed' and a reason, never a zero.

    `unit` and `direction` ("lower" or "higher" is better) come from the metric family's
    row of bench.results.units unless given: a workload metric carries its own.
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
        if not self.unit:
            object.__setattr__(self, "unit", unit_of(self.metric))
        if not self.direction:
            object.__setattr__(self, "direction", direction_of(self.metric))
        if self.direction not in ("lower", "higher"):
            raise ValueError(f"sample {self.metric}: direction {self.direction!r} is not lower or higher")
        if self.status == "ok" and self.value is None:
            raise ValueError(f"sample {self.metric} is ok but has no value")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"sample {self.metric} has no finite value ({self.value})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def failed(cls, runtime: str, workload: str, metric: str, repetition: int,
               reason: str, cell: int = -1, unit: str = "", direction: str = "") -> Sample:
        return cls(runtime=runtime, workload=workload, metric=metric, value=None,
                   repetition=repetition, status="failed", reason=reason, cell=cell, unit=unit,
                   direction=direction)
