"""A run's ledger: what a live run uses from the cache, and where it puts scratch storage.

`<cache>/runs/<run id>.json`, written when the run starts and locked (flock) by the run
for its whole life, so the kernel says whether the run is still there however it ended:
- `bench cache prune` keeps what a live ledger names (its trees, the disks made of them,
  its probe, the images built from those), and everything it cannot attribute while any
  run is live (a launcher or an initramfs some driver is using);
- `bench clean` sweeps the scratch directories a dead ledger names (a config's
  `scratch.dir`, anywhere on the host), then forgets the ledger.
The run removes its ledger when it ends; a killed run's stays, unlocked, until `bench clean`.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.errors import ResultsError
from foundation.files import create_exclusive

LEDGERS = "runs"
RUN_ID = re.compile(r"[0-9A-Za-z]{1,64}")
MAX_LEDGER_BYTES = 1 << 20


@dataclass(frozen=True)
class Ledger:
    """One run's ledger as read back: `live` while its run holds the lock."""

    run_id: str
    trees: tuple[str, ...]  # digests of the workload trees it uses
    probe: str | None  # the probe's cache entry (its folder)
    probe_digest: str | None  # the probe's content hash: the label of images built with it
    scratch_dirs: tuple[str, ...]  # where its workloads' scratch storage goes (scratch.dir)
    results: str | None
    path: Path
    live: bool


class HeldLedger:
    """The ledger a live run holds: the file and the descriptor that keeps it locked."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """The run is over: the ledger goes (idempotent)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None


def ledger_folder(cache_dir: Path) -> Path:
    return cache_dir / LEDGERS


def hold(cache_dir: Path, run_id: str, *, trees: Iterable[str], probe: Path | None,
         probe_digest: str | None, scratch_dirs: Iterable[Path], results: Path | None) -> HeldLedger:
    """Write the run's ledger and lock it until the run ends (or this process does). The
    file is locked before it gets its name, so no reader ever sees it unlocked while the
    run lives. Released at the latest when the process exits."""
    if not RUN_ID.fullmatch(run_id):
        raise ResultsError(f"run id {run_id[:80]!r}: only letters and digits name a ledger")
    folder = ledger_folder(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{run_id}.json"
    used = sorted(set(trees))
    document = {"run_id": run_id, "trees": used,
                "probe": str(probe.parent) if probe else None, "probe_digest": probe_digest,
                "scratch_dirs": sorted({str(Path(d).absolute()) for d in scratch_dirs}),
                "results": str(results.absolute()) if results else None}
    partial, fd = create_exclusive(target, 0o600)
    try:
        os.set_inheritable(fd, False)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, json.dumps(document).encode())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        os.close(fd)
        raise
    held = HeldLedger(target, fd)
    atexit.register(held.release)
    touch(cache_dir, used, probe)
    return held


def touch(cache_dir: Path, trees: Iterable[str], probe: Path | None) -> None:
    """Stamp what the run uses as used now: `bench cache prune --older-than` goes by it."""
    used = [cache_dir / "trees" / digest for digest in trees]
    used += [cache_dir / "disks" / f"tree-{digest}.ext4" for digest in trees]
    used += [probe.parent] if probe else []
    for path in used:
        with contextlib.suppress(OSError):
            os.utime(path, follow_symlinks=False)


def read_ledgers(cache_dir: Path) -> list[Ledger]:
    """Every run's ledger in the cache (files that are not one are passed over)."""
    found = []
    for path in sorted(ledger_folder(cache_dir).glob("*.json")):
        ledger = read_ledger(path)
        if ledger is not None:
            found.append(ledger)
    return found


def read_ledger(path: Path) -> Ledger | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as file:
            if not os.path.isfile(path) or os.fstat(file.fileno()).st_size > MAX_LEDGER_BYTES:
                return None
            live = is_held(file.fileno())
            document = json.loads(file.read(MAX_LEDGER_BYTES))
    except (OSError, ValueError):
        return None
    return ledger_of(document, path, live) if isinstance(document, dict) else None


def is_held(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def ledger_of(document: dict[str, Any], path: Path, live: bool) -> Ledger | None:
    def texts(key: str) -> tuple[str, ...]:
        values = document.get(key)
        return tuple(v for v in values if isinstance(v, str)) if isinstance(values, list) else ()

    def text(key: str) -> str | None:
        value = document.get(key)
        return value if isinstance(value, str) else None

    run_id = text("run_id")
    if run_id is None or f"{run_id}.json" != path.name:
        return None
    return Ledger(run_id, texts("trees"), text("probe"), text("probe_digest"),
                  texts("scratch_dirs"), text("results"), path, live)


def forget(ledger: Ledger) -> None:
    """A dead run's ledger, once what it named is swept."""
    if not ledger.live:
        with contextlib.suppress(OSError):
            ledger.path.unlink()
