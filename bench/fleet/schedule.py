"""Which machine a host is, and the order hosts run in: never two benchmarks on one machine.

A host's machine identity is, in order: the inventory's `bench_machine` (the operator knows
that two VMs share a hypervisor), the DMI product UUID (one per physical box or VM; a
container reads its machine's), else /etc/machine-id. Hosts that report one identity run
one after the other; the waves put at most one host of each machine in each wave, so a
wave runs its hosts in parallel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

DMI_UUID = "/sys/class/dmi/id/product_uuid"
MACHINE_ID = "/etc/machine-id"
# firmware that fills the UUID with one digit (all zeros, all Fs) says nothing about the box
PLACEHOLDER = re.compile(r"^([0-9a-f])(?:\1|-)*$")


@dataclass(frozen=True)
class MachineReads:
    """What a host answered for each identity file (None: unreadable there)."""

    dmi_uuid: str | None = None
    machine_id: str | None = None


def machine_identity(declared: str | None, reads: MachineReads) -> str | None:
    """The identity that decides which hosts share a machine, or None when there is none."""
    if declared:
        return f"declared:{declared}"
    uuid = (reads.dmi_uuid or "").strip().lower()
    if uuid and not PLACEHOLDER.match(uuid):
        return f"dmi:{uuid}"
    machine = (reads.machine_id or "").strip()
    return f"machine-id:{machine}" if machine else None


def waves(machines: Mapping[str, str]) -> list[list[str]]:
    """Host names in waves, from each host's machine identity (in inventory order): wave i
    holds the i-th host of every machine."""
    by_machine: dict[str, list[str]] = {}
    for host, machine in machines.items():
        by_machine.setdefault(machine, []).append(host)
    depth = max((len(hosts) for hosts in by_machine.values()), default=0)
    return [[hosts[i] for hosts in by_machine.values() if i < len(hosts)] for i in range(depth)]
