"""Each host's part in a fleet, as Ansible's events tell it: where it is, what step it is at,
and, for a host that failed, the step and the reason (unreachable, set-up, run).

The events are ansible-runner's (runner_on_start, runner_on_ok, runner_on_failed,
runner_on_unreachable); HostLog turns them into HostState rows and progress lines, and
reads the machine identity files out of the identify play's results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.fleet.inventory import InventoryHost
from bench.fleet.schedule import DMI_UUID, MACHINE_ID, MachineReads

IDENTITY_TASK = "read the machine identity"
TAIL_LINES = 3
REASON_CHARS = 600


@dataclass
class HostState:
    """One host of the fleet; `status` is pending, running, done or failed."""

    name: str
    slot: str
    where: str
    machine: str | None = None
    wave: int | None = None
    status: str = "pending"
    step: str | None = None
    reason: str | None = None
    run_id: str | None = None
    results: str | None = None  # its results directory, relative to the fleet directory
    started: float | None = None  # when the controller started its wave, and saw it end
    ended: float | None = None

    @classmethod
    def of(cls, host: InventoryHost) -> HostState:
        return cls(host.name, host.slot, host.where)

    def fail(self, step: str, reason: str) -> None:
        if self.status != "failed":  # the first failure is the reason; cleanup comes after it
            self.status, self.step, self.reason = "failed", step, reason[:REASON_CHARS]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reason_of(result: dict[str, Any]) -> str:
    """A failed task's reason in one line: Ansible's message, the exit status and the last
    lines of its error output (a command's own words say more than "non-zero return code");
    for a loop, those of its first item that failed."""
    failed = [item for item in result.get("results") or []
              if isinstance(item, dict) and (item.get("failed") or item.get("unreachable"))]
    if failed:
        result = failed[0]
    message = " ".join(str(result.get("msg") or "").split())
    tail = [line.strip() for line in result.get("stderr_lines") or [] if line.strip()]
    if "rc" in result and tail and "exited with status" not in message:
        return f"{message} (status {result['rc']}): {' | '.join(tail[-TAIL_LINES:])}"
    return message or "failed without a message"


def identity_reads(result: dict[str, Any]) -> MachineReads:
    """The identify play's two reads, from its loop's results (an unreadable file: None)."""
    found: dict[str, str] = {}
    for item in result.get("results") or []:
        if item.get("rc") == 0 and str(item.get("stdout") or "").strip():
            found[str(item.get("item"))] = str(item["stdout"]).strip()
    return MachineReads(found.get(DMI_UUID), found.get(MACHINE_ID))


@dataclass
class HostLog:
    """The fleet's hosts by name, kept up to date from Ansible's events."""

    states: dict[str, HostState]
    say: Callable[[str], None]
    reads: dict[str, MachineReads] = field(default_factory=dict)

    def __call__(self, event: dict[str, Any]) -> bool:
        """ansible-runner's event handler (True: keep the event in its artifacts)."""
        data = event.get("event_data") or {}
        state = self.states.get(str(data.get("host")))
        if state is not None:
            self.on_host_event(state, str(event.get("event")), str(data.get("task") or ""),
                               data.get("res") or {}, bool(data.get("ignore_errors")))
        return True

    def on_host_event(self, state: HostState, kind: str, task: str, result: dict[str, Any],
                      ignored: bool) -> None:
        if kind == "runner_on_start" and state.status != "failed":
            self.say(f"{state.name}: {task}")
        elif kind == "runner_on_ok" and task == IDENTITY_TASK:
            self.reads[state.name] = identity_reads(result)
        elif kind == "runner_on_unreachable":
            state.fail(task, f"unreachable: {reason_of(result)}")
            self.say(f"{state.name}: unreachable ({state.reason})")
        elif kind == "runner_on_failed" and not ignored:
            state.fail(task, reason_of(result))
            self.say(f"{state.name}: {task} failed ({state.reason})")
