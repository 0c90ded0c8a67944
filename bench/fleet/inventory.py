"""The hosts of an Ansible inventory (INI or YAML), as Ansible reads them, after --limit.

Ansible itself reads the inventory (`ansible-inventory --list`), so every form it accepts
(INI, YAML, a directory, a plugin) works here as it does for `ansible-playbook`. Only the
variables bench uses are kept: a host's other variables may hold secrets.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.errors import ConfigError, FleetError

TIMEOUT = 120.0
SLOT = re.compile(r"[^A-Za-z0-9_.-]")  # the playbook's bench_slot: the same expression


@dataclass(frozen=True)
class InventoryHost:
    """A host as the fleet names it: its inventory name, where Ansible connects to, and the
    machine the operator declared it on (bench_machine), if any."""

    name: str
    address: str
    port: int | None = None
    machine: str | None = None

    @property
    def slot(self) -> str:
        """Its folder name in the fleet directory (and on the host)."""
        return SLOT.sub("_", self.name)

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}" if self.port else self.address


def ansible_tool(name: str) -> str:
    """An Ansible command beside this Python (its venv or pyenv), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise FleetError("ansible", f"{name} not found: install the fleet extra "
                                    "(pip install 'bench[fleet]': ansible-core, ansible-runner)")
    return found


def read_inventory(inventory: Path, limit: str | None) -> list[InventoryHost]:
    """The inventory's hosts in Ansible's order, narrowed by `limit` (an Ansible pattern)."""
    if not inventory.exists():
        raise ConfigError(f"inventory {inventory}: no such file or directory")
    argv = [ansible_tool("ansible-inventory"), "-i", str(inventory), "--list"]
    if limit:
        argv += ["--limit", limit]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise FleetError("inventory", f"ansible-inventory took over {TIMEOUT:.0f} s") from None
    if done.returncode != 0 or "[WARNING]: Unable to parse" in done.stderr:
        raise ConfigError(f"inventory {inventory}: Ansible cannot read it: "
                          f"{last_line(done.stderr)}")
    return hosts_of(json.loads(done.stdout))


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def hosts_of(listing: dict[str, Any]) -> list[InventoryHost]:
    """Hosts of `ansible-inventory --list` output, groups walked from `all` in order."""
    names: dict[str, None] = {}

    def walk(group: str) -> None:
        entry = listing.get(group) or {}
        names.update(dict.fromkeys(entry.get("hosts") or []))
        for child in entry.get("children") or []:
            walk(child)

    walk("all")
    hostvars = (listing.get("_meta") or {}).get("hostvars") or {}
    return [host_of(name, hostvars.get(name) or {}) for name in names]


def host_of(name: str, variables: dict[str, Any]) -> InventoryHost:
    port = variables.get("ansible_port")
    machine = variables.get("bench_machine")
    return InventoryHost(name, str(variables.get("ansible_host") or name),
                         int(port) if port is not None else None,
                         str(machine) if machine else None)
