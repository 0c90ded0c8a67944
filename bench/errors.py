"""One root for every error bench expects; the CLI turns these into a line and an exit code.

Anything that is not a BenchError is a bug and keeps its traceback.
"""


class BenchError(Exception):
    """An expected failure with a message a user can act on."""

    exit_code = 1


class ConfigError(BenchError):
    """The config (or a command-line value) is malformed."""

    exit_code = 2


class ResultsError(BenchError):
    """A results directory is missing, truncated, of another tool or of a newer format."""

    exit_code = 2


class GateError(BenchError):
    """The gate cannot compare: missing data, nothing in common, or hosts that differ."""

    exit_code = 2


class BuildError(BenchError):
    """The workload bundle could not be built (no compiler, compile failure)."""


class RuntimeUnavailable(BenchError):
    """A driver cannot run here; the message says why and what to do."""


class InstanceError(BenchError):
    """An instance failed to start, to become ready, or died early."""


class InstanceTimeout(InstanceError):
    """An instance did not reach a marker before the cell's deadline."""


class Interrupted(BenchError):
    """The run was stopped by a signal; what was measured so far is kept."""

    exit_code = 130
