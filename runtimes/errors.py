"""The root of bench's errors, and the errors a driver raises.

They sit at the bottom of the house, beside the driver contract, because drivers raise
them and nothing in runtimes/ imports bench. Every layer above may use them; bench.errors
adds the errors of the layers above (config, results, gate, history).

An error carries fields (the cause, the exit status, the signal, whether the OOM killer
acted) as well as its sentence; code and tests read the fields, the CLI prints the text.
"""

from __future__ import annotations


class BenchError(Exception):
    """An expected failure with a message a user can act on."""

    exit_code = 1


class BuildError(BenchError):
    """Something bench compiles or packages could not be built (no compiler, compile failure)."""


class RuntimeUnavailable(BenchError):
    """A driver cannot run here; the message says why and what to do."""


class InstanceError(BenchError):
    """An instance failed to start, to become ready, or died early."""


class InstanceTimeout(InstanceError):
    """An instance did not reach a marker before the cell's deadline."""
