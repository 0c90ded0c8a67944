"""The errors of bench's upper layers: config, results, gate. Their root is
runtimes.errors.BenchError, at the bottom of the house with the driver contract.

The CLI turns any BenchError into one line and its exit code; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from runtimes.errors import BenchError


class ConfigError(BenchError):
    """The config (or a command-line value) is malformed."""

    exit_code = 2


class ResultsError(BenchError):
    """A results directory is missing, truncated, of another tool or of a newer format."""

    exit_code = 2


class GateError(BenchError):
    """The gate cannot compare: missing data, nothing in common, or hosts that differ."""

    exit_code = 2


class Interrupted(BenchError):
    """The run was stopped by a signal; what was measured so far is kept. The exit code is
    128 + the signal's number, as a shell reports a command the signal killed."""

    exit_code = 130

    def __init__(self, message: str, signum: int = 2) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum

class WorkloadError(BenchError):
    """A command workload cannot be packaged: a command that is not found, a library that
    cannot be resolved, an image that is not local. Nothing has started yet."""

    exit_code = 2


class HistoryError(BenchError):
    """The history store cannot be opened, read or written: unreachable, newer, or corrupt.

    `store` names the store (a path or a URL without its password) so the one line says which.
    """

    exit_code = 1

    def __init__(self, store: str, problem: str) -> None:
        super().__init__(f"history store {store}: {problem}")
        self.store = store
        self.problem = problem
