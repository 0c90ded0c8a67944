"""The one result row every collector produces and every reader consumes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bench.results.units import unit_of

Status = Literal["ok", "failed"]

@dataclass(frozen=True)
class Sample:
    """One measurement; a failure is a row with status 'failed' and a reason, never a zero."""

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

    def __post_init__(self) -> None:
        if not self.unit:
            object.__setattr__(self, "unit", unit_of(self.metric))
        if self.status == "ok" and self.value is None:
            raise ValueError(f"sample {self.metric} is ok but has no value")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"sample {self.metric} has no finite value ({self.value})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def failed(cls, runtime: str, workload: str, metric: str, repetition: int,
               reason: str, cell: int = -1) -> Sample:
        return cls(runtime=runtime, workload=workload, metric=metric, value=None,
                   repetition=repetition, status="failed", reason=reason, cell=cell)
