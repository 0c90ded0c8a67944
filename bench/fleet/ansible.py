"""One playbook run through ansible-runner: its events to a handler, its output to a log,
nothing of it left behind on the controller.

Ansible gets a private home (ANSIBLE_HOME: its temporary files) and a private folder for
its SSH connection masters, which are closed when the playbook ends, so no ssh process
outlives the command. ansible-runner writes no env files (the store URL reaches the
playbook through the environment only). Nothing here talks to Ansible Galaxy or any index:
the playbooks use ansible-core's builtin modules only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bench.fleet.inventory import ansible_tool
from foundation.errors import FleetError
from foundation.files import open_append

EXIT_TIMEOUT = 10.0
# ansible-playbook's statuses when it ran: all well, a host failed, a host unreachable
# (each such host is one of its events); any other is Ansible itself failing
HOSTS_FAILED = frozenset({0, 2, 4})
TAIL_LINES = 3


@dataclass(frozen=True)
class Play:
    """A playbook shipped with bench, run over `hosts` (exact inventory names); `name` names
    its part of the log (identify, wave-1, ...)."""

    name: str
    playbook: str  # a file name in bench/fleet/playbooks
    hosts: tuple[str, ...]
    extravars: Mapping[str, Any]
    check: bool = False


@dataclass(frozen=True)
class Ansible:
    """Where and how every play of one fleet runs: the inventory, Ansible's forks, the job's
    time limit, a private working folder, the log every play's output is appended to, and
    the environment the playbook reads (the store URL)."""

    inventory: Path
    work: Path
    log: Path
    forks: int
    timeout: int
    environment: Mapping[str, str]

    def run(self, play: Play, handler: Callable[[dict[str, Any]], bool]) -> int:
        """Runs the play; returns ansible-playbook's exit status (a failed host is one of its
        events, not an error here; Ansible that could not run at all is a FleetError)."""
        import ansible_runner

        ansible_tool("ansible-playbook")  # ansible-runner runs the one on PATH: say if none is
        ident = play.name
        limit = self.work / f"limit-{ident}"
        limit.write_text("".join(f"{name}\n" for name in play.hosts))
        try:
            with resources.as_file(resources.files("bench.fleet") / "playbooks" / play.playbook) as book:
                result = ansible_runner.run(
                    private_data_dir=str(self.private_dir()), ident=ident, playbook=str(book),
                    project_dir=str(Path.cwd()),  # as ansible-playbook: ./ansible.cfg, relative paths
                    inventory=str(self.inventory.absolute()), limit=f"@{limit}",
                    extravars=dict(play.extravars), envvars=self.envvars(), forks=self.forks,
                    timeout=self.timeout, cmdline="--check" if play.check else None,
                    event_handler=handler, quiet=True,
                    suppress_env_files=True)
        finally:
            self.close_connections()
        output = self.keep_output(ident)
        if result.status == "timeout":
            raise FleetError(play.name, f"Ansible ran past {self.timeout} s and was stopped")
        if result.rc not in HOSTS_FAILED:
            raise FleetError(play.name, f"ansible-playbook exited with status {result.rc}: "
                                        f"{' | '.join(output[-TAIL_LINES:]) or 'no output'}")
        return int(result.rc)

    def private_dir(self) -> Path:
        folder = self.work / "runner"
        folder.mkdir(exist_ok=True)
        return folder

    def envvars(self) -> dict[str, str]:
        return {"ANSIBLE_HOME": str(self.work / "home"),
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.work / "cp"),
                "ANSIBLE_RETRY_FILES_ENABLED": "false", "ANSIBLE_NOCOLOR": "true",
                **self.environment}

    def keep_output(self, ident: str) -> list[str]:
        """The play's own output (what ansible-playbook printed) into the fleet's log; its
        lines that say something."""
        stdout = self.private_dir() / "artifacts" / ident / "stdout"
        text = stdout.read_text(errors="replace") if stdout.exists() else ""
        with open_append(self.log) as log:
            log.write(f"==== {ident}\n{text}")
        return [" ".join(line.split()) for line in text.splitlines() if line.strip()]

    def close_connections(self) -> None:
        """Ends the SSH connection masters Ansible left to persist (ControlPersist)."""
        folder = self.work / "cp"
        for socket in sorted(folder.iterdir()) if folder.is_dir() else []:
            try:
                subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "bench-fleet"],
                               capture_output=True, timeout=EXIT_TIMEOUT, check=False)
            except (OSError, subprocess.TimeoutExpired):
                continue  # a master that does not answer ends on its own (ControlPersist)
