"""One OCI runtime binary (runc, crun, runsc) behind its command line, with a state root of ours.

Every runtime here speaks the same verbs (run, state, kill, delete, list) and
keeps what it knows of its containers under `--root`: giving each run its own root means
`list` shows only that run's containers, and `bench clean` can delete them by root even
after the harness itself was killed.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.errors import InstanceError
from runtimes.host.tools import run_tool

COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RuntimeCli:
    """A runtime binary, the state root it is given, and the global flags it always gets."""

    name: str
    path: Path
    root: Path
    flags: tuple[str, ...] = ()

    def argv(self, *args: str) -> list[str]:
        return [str(self.path), "--root", str(self.root), *self.flags, *args]

    def run_argv(self, bundle: Path, container_id: str) -> list[str]:
        """`run --detach`: create and start in one call of the runtime, which returns once the
        container's process runs; its stdio is whatever the runtime's own stdio was (no
        terminal: passed through as it is)."""
        return self.argv("run", "--detach", "--bundle", str(bundle), container_id)

    def kill(self, container_id: str, signum: signal.Signals, every_process: bool = False) -> bool:
        """Send a signal through the runtime; False when it could not (the container is
        already stopped, or gone)."""
        scope = ("--all",) if every_process else ()
        done = run_tool(self.argv("kill", *scope, container_id, signum.name.removeprefix("SIG")),
                        f"{self.name} kill {container_id}", COMMAND_TIMEOUT_S, check=False)
        return done.returncode == 0

    def delete(self, container_id: str) -> None:
        run_tool(self.argv("delete", "--force", container_id), f"{self.name} delete {container_id}",
                 COMMAND_TIMEOUT_S)

    def state(self, container_id: str) -> dict[str, Any]:
        done = run_tool(self.argv("state", container_id), f"{self.name} state {container_id}",
                        COMMAND_TIMEOUT_S)
        state = parse_json(done.stdout, f"{self.name} state")
        if not isinstance(state, dict):
            raise InstanceError(f"{self.name} state of {container_id} is not an object: {state!r}")
        return state

    def container_ids(self) -> list[str]:
        """The containers under this root (none when the root does not exist yet)."""
        if not self.root.is_dir():
            return []
        done = run_tool(self.argv("list", "--format", "json"), f"{self.name} list",
                        COMMAND_TIMEOUT_S)
        listed = parse_json(done.stdout, f"{self.name} list") or []
        return [str(entry["id"]) for entry in listed if isinstance(entry, dict) and "id" in entry]


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as error:
        raise InstanceError(f"{what} printed something that is not JSON: {text[:200]!r}") from error
