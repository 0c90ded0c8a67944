"""Do two runs of one config agree? Each run's 95 % interval of a ratio against the other's ratio.

Issue 12 asks that for at least 90 % of the syscall and boot rows of two back-to-back quick
runs, one run's 95 % interval of the ratio to the process baseline contains the other run's
ratio. This reads both results directories through the summary contract (the numbers
`bench summary --json` prints) and checks every non-baseline syscall.* and boot.total row in
both directions. A row without an interval (too few instances) does not agree.

    python3 -m tests.benchmarks.ratio_agreement RESULTS_A RESULTS_B

prints every row and the share, and exits 1 when the share is under 90 %.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results.summary import summary_json

REQUIRED = 0.90
Row = tuple[str, str, str]  # runtime, workload, metric


@dataclass(frozen=True)
class Check:
    row: Row
    interval_of: str  # "A" or "B": whose interval
    low: float | None
    high: float | None
    other: float | None  # the other run's ratio

    @property
    def agrees(self) -> bool:
        return None not in (self.low, self.high, self.other) and \
            (self.low or 0.0) <= (self.other or 0.0) <= (self.high or 0.0)


def compared(metric: str) -> bool:
    return metric.startswith("syscall.") or metric == "boot.total"


def ratio_rows(path: Path) -> dict[Row, dict[str, Any]]:
    return {(r["runtime"], r["workload"], r["metric"]): r for r in summary_json(path)
            if compared(r["metric"]) and r["ratio"] is not None}


def agreement(first: Path, second: Path) -> list[Check]:
    """Every row with a ratio in either run, checked both ways."""
    a, b = ratio_rows(first), ratio_rows(second)
    checks = []
    for row in sorted(set(a) | set(b)):
        for name, mine, theirs in (("A", a.get(row), b.get(row)), ("B", b.get(row), a.get(row))):
            checks.append(Check(row, name, mine and mine["ratio_low"], mine and mine["ratio_high"],
                                theirs and theirs["ratio"]))
    return checks


def share(checks: list[Check]) -> float:
    return sum(c.agrees for c in checks) / len(checks) if checks else 0.0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    checks = agreement(Path(argv[0]), Path(argv[1]))
    for check in checks:
        interval = "no interval" if check.low is None or check.high is None else \
            f"[{check.low:.3f}, {check.high:.3f}]"
        other = "-" if check.other is None else f"{check.other:.3f}"
        print(f"{'ok ' if check.agrees else 'NO '} {'/'.join(check.row):50} {check.interval_of}'s "
              f"{interval:22} other's ratio {other}")
    found = share(checks)
    print(f"{sum(c.agrees for c in checks)} of {len(checks)} checks agree ({found:.0%}); "
          f"required {REQUIRED:.0%}")
    return 0 if found >= REQUIRED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
