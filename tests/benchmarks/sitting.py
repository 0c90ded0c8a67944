"""What every driver benchmark does around its measurements: check the driver, give it a
scratch run context, report a failure as one line, and prove nothing is left behind."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from runtimes.base import Driver, RunContext
from runtimes.errors import BenchError


def run_sitting(driver: type[Driver], tag: str, body: Callable[[RunContext], int]) -> int:
    reason = driver.unavailable_reason()
    if reason:
        print(f"{driver.kind} driver unavailable: {reason}")
        return 1
    run_id = tag + secrets.token_hex(3)
    with tempfile.TemporaryDirectory(prefix=f"bench-{run_id}-") as scratch:
        context = RunContext(run_id, Path(scratch), Path(scratch))
        try:
            return body(context)
        except BenchError as error:
            print(f"failed: {error}")
            return 1
        finally:
            left = driver.clean(run_id, dry_run=False)
            print(f"left behind and removed now: {left}" if left else "nothing left behind")
