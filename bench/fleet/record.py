"""The fleet directory's record, fleet.json: which hosts ran what, where, in which wave, and
how each ended (the reason of each failure), rewritten atomically as the fleet goes.

<fleet dir>/fleet.json        this record (format FORMAT)
<fleet dir>/hosts/<host>/     each host's results directory, as `bench run` wrote it there
<fleet dir>/ansible.log       what Ansible printed, play by play
<fleet dir>/fleet.html        the fleet report (reports.fleet)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.fleet.hosts import HostState
from bench.results.documents import read_document
from foundation.errors import ResultsError
from foundation.files import write_text_atomic

FORMAT = 1
RECORD = "fleet.json"
HOSTS = "hosts"


@dataclass
class Fleet:
    """One `bench fleet run`; `status` is running, complete, failed (Ansible itself failed) or
    interrupted."""

    fleet_id: str
    config: str
    inventory: str
    limit: str | None
    store: str  # as it may be shown: without its password
    commit: str | None  # the controller's checkout, which every host runs as a wheel
    version: str
    created: float = field(default_factory=time.time)
    ended: float | None = None
    status: str = "running"
    waves: list[list[str]] = field(default_factory=list)
    hosts: list[HostState] = field(default_factory=list)

    @property
    def failed(self) -> list[HostState]:
        return [host for host in self.hosts if host.status == "failed"]

    def write(self, folder: Path) -> None:
        document = {"format": FORMAT, **asdict(self)}
        write_text_atomic(folder / RECORD, json.dumps(document, indent=2) + "\n")


def read_fleet(folder: Path) -> Fleet:
    """A fleet directory's record (refused, exit 2, when it is not one or of a newer format)."""
    file = folder / RECORD
    if not file.is_file():
        raise ResultsError(f"{folder}: not a fleet directory (no {RECORD})")
    document = read_document(folder, file)
    if not isinstance(document, dict) or not isinstance(document.get("format"), int):
        raise ResultsError(f"{file}: not a fleet record")
    if document["format"] > FORMAT:
        raise ResultsError(f"{file}: format {document['format']} is newer than this bench "
                           f"reads ({FORMAT}): upgrade bench")
    try:
        return fleet_of(document)
    except (KeyError, TypeError) as error:
        raise ResultsError(f"{file}: not a fleet record ({error})") from None


def fleet_of(document: dict[str, Any]) -> Fleet:
    fields = {key: value for key, value in document.items() if key not in {"format", "hosts"}}
    return Fleet(**fields, hosts=[HostState(**host) for host in document["hosts"]])
