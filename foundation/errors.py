"""The root of bench's errors, and the errors a driver raises.

They sit at the bottom of the house, beside the driver contract, because drivers raise
them and nothing in runtimes/ imports bench. The errors of the layers above (config,
results, gate, workload, history, an interrupted run) are here too, at the end: every
layer raises them, and a module that every layer imports must sit below all of them.

An error carries fields (why an instance ended: its exit status, the signal, whether the
OOM killer acted; the tail of its output) as well as its sentence: code and tests read the
fields, and the sentence is built from them when the error is shown.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass


class BenchError(Exception):
    """An expected failure with a message a user can act on."""

    exit_code = 1


class BuildError(BenchError):
    """Something bench compiles or packages could not be built (no compiler, compile failure)."""


class RuntimeUnavailable(BenchError):
    """A driver cannot run here; the message says why and what to do."""


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


@dataclass(frozen=True)
class ExitCause:
    """Why an instance ended: killed by the OOM killer, by a signal, or exited with a status.

    `limit` names the memory limit the OOM killer enforced, when the driver knows it.
    """

    status: int | None = None
    signal: int | None = None
    oom: bool = False
    limit: str | None = None

    @classmethod
    def from_wait_status(cls, status: int) -> ExitCause:
        """subprocess's returncode (negative: a signal) or a shell-style 128+N status."""
        if status < 0:
            return cls(signal=-status)
        if 128 < status < 128 + 65:
            return cls(status=status, signal=status - 128)
        return cls(status=status)

    def sentence(self) -> str:
        if self.oom:
            where = f" at {self.limit}" if self.limit else ""
            return f"out-of-memory (killed{where})"
        if self.status is None and self.signal is not None:
            return f"killed by signal {signal_name(self.signal)}"
        if self.signal is not None:
            return f"exited with status {self.status} (signal {signal_name(self.signal)})"
        return f"exited with status {self.status}"


class InstanceError(BenchError):
    """An instance failed to start, to become ready, or died early.

    `message` says what went wrong; `cause` (set by the driver's exit_cause, before
    teardown erases the evidence) says how the instance ended; `tail` holds its last lines
    of output.
    """

    def __init__(self, message: str, *, cause: ExitCause | None = None,
                 tail: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause
        self.tail = tail

    def __str__(self) -> str:
        text = f"{self.cause.sentence()}: {self.message}" if self.cause else self.message
        shown = [line for line in self.tail if line.strip()]
        return f"{text} (last output: {' | '.join(shown)[:300]})" if shown else text

    def with_cause(self, cause: ExitCause | None) -> InstanceError:
        """The same error with the instance's exit cause recorded (a copy; chained)."""
        if cause is None or self.cause is not None:
            return self
        explained = type(self)(self.message, cause=cause, tail=self.tail)
        explained.__cause__ = self
        return explained


class InstanceTimeout(InstanceError):
    """An instance did not reach a marker before the cell's deadline."""


class ProtocolError(InstanceError):
    """A line of the probe's stream breaks its protocol (runtimes/protocol.py): a field
    missing, unknown or out of its range, a once-only marker seen twice. `line` is the
    offending line; the cell fails with it, never with a number read from it."""

    def __init__(self, message: str, *, line: str = "", tail: tuple[str, ...] = ()) -> None:
        super().__init__(f"the probe's report breaks its protocol: {message}"
                         + (f" in {line[:200]!r}" if line else ""), tail=tail)
        self.line = line

    def with_cause(self, cause: ExitCause | None) -> InstanceError:
        return self  # the line is the cause: how the instance ended does not change it


class TeardownError(InstanceError):
    """An instance could not be torn down completely; `bench clean` may find what is left."""


# --- the errors of the layers above the drivers ------------------------------------------

class ConfigError(BenchError):
    """The config (or a command-line value) is malformed."""

    exit_code = 2


class ResultsError(BenchError):
    """A results directory is missing, truncated, of another tool or of a newer format."""

    exit_code = 2


class GateError(BenchError):
    """The gate cannot compare: missing data, nothing in common, or hosts that differ."""

    exit_code = 2


class UncalibratedHost(GateError):
    """A gate between sittings without a calibration of the candidate's host kind: the gate
    refuses the verdict. `host` names the kind, `source` the calibration file looked in (None:
    none named), `known` the kinds that file holds; the sentence says how to calibrate."""

    def __init__(self, host: str, source: str | None, known: tuple[str, ...] = ()) -> None:
        self.host, self.source, self.known = host, source, known
        where = "no calibration named" if source is None else \
            f"{source} holds only {'; '.join(known) or 'none'}"
        super().__init__(f"no calibration of this host's kind {host} for a gate between "
                         f"sittings ({where}): calibrate with `bench calibrate --history "
                         "CANDIDATE_DIR -o FILE` (3 or more runs of this config at one commit "
                         "in the history store) or `bench calibrate DIR DIR DIR -o FILE`, then "
                         "gate with --calibration FILE (or --uncalibrated: the rank test alone)")


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


class FleetError(BenchError):
    """A fleet cannot run at all: Ansible missing or failing as a whole, an inventory it
    cannot read. `step` names what failed (a host that fails is a row, not an error)."""

    exit_code = 1

    def __init__(self, step: str, problem: str) -> None:
        super().__init__(f"bench fleet: {step}: {problem}")
        self.step = step
        self.problem = problem
