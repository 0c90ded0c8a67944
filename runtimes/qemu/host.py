"""What a run's QEMU guests leave on the host, and how `bench clean` finds it after the
harness itself was killed: QEMU processes started with `-name bench-<run id>-...`, and each
run's state directory (QMP sockets, pid files, QEMU's logs) under the state root.

Read from /proc only, so a process libvirt started (its -name is `guest=...`) or another
program's QEMU never matches.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from runtimes.host.memory import PROC
from runtimes.host.tools import sweep_dirs

KILL_WAIT_S = 5.0


def qemu_processes(prefix: str) -> list[tuple[int, str]]:
    """(pid, guest name) of every QEMU whose -name starts with prefix."""
    found = []
    for entry in PROC.glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not Path(argv[0].decode(errors="replace")).name.startswith("qemu-system"):
            continue
        for flag, value in zip(argv, argv[1:], strict=False):
            if flag == b"-name" and value.startswith(prefix.encode()):
                found.append((int(entry.name), value.decode(errors="replace")))
    return found


def gone(pid: int) -> bool:
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def kill_qemus(prefix: str, dry_run: bool) -> list[str]:
    """Kill (unless dry_run) the QEMUs of guests named with prefix, and wait until they are gone."""
    found = qemu_processes(prefix)
    if not dry_run:
        for pid, _ in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + KILL_WAIT_S
        while time.monotonic() < deadline and not all(gone(pid) for pid, _ in found):
            time.sleep(0.05)
    return [f"qemu process {pid} ({name})" for pid, name in found]


def sweep_state(state_root: Path, prefix: str, dry_run: bool) -> list[str]:
    """The state directories of runs named with prefix (their sockets, pid files and logs)."""
    return sweep_dirs("qemu state dir", sorted(state_root.glob(f"{prefix}*")), dry_run)
