"""Fake cgroup trees for the unit tests of runtimes.host.cgroups and of the drivers' limits:
v2 (unified) and v1 (a mount per controller, beside an empty cgroup2 as on a hybrid host)
as plain directories and files, and a fake kernel whose `kill` and `rmdir` are injected so
no real process is signalled and a "busy" cgroup can be simulated."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable
from pathlib import Path

from runtimes.host.cgroups import Hierarchy, detect


class FakeKernel:
    """Signals remove the pid from every cgroup.procs under the root; rmdir may be busy a while."""

    def __init__(self, root: Path, busy_rmdirs: int = 0) -> None:
        self.root = root
        self.busy_rmdirs = busy_rmdirs
        self.killed: list[tuple[int, int]] = []

    def kill(self, pid: int, sig: int) -> None:
        self.killed.append((pid, sig))
        for procs in self.root.rglob("cgroup.procs"):
            pids = [p for p in procs.read_text().split() if p != str(pid)]
            procs.write_text("\n".join(pids))

    def rmdir(self, path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, "gone", str(path))
        if self.busy_rmdirs > 0:
            self.busy_rmdirs -= 1
            raise OSError(errno.EBUSY, "Device or resource busy", str(path))
        shutil.rmtree(path)


def v2_tree(root: Path, controllers: str = "cpu io memory pids") -> Path:
    root.mkdir(exist_ok=True)
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


def v1_tree(root: Path, controllers: tuple[str, ...] = ("memory", "pids", "cpu")) -> Path:
    for controller in controllers:
        (root / controller).mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
    (root / "unified").mkdir()  # hybrid: an empty cgroup2 beside the v1 mounts
    (root / "unified" / "cgroup.controllers").write_text("")
    return root


MakeTree = Callable[[Path], Path]


def hierarchy(root: Path, kernel: FakeKernel) -> Hierarchy:
    """The hierarchy detected under root, with the fake kernel's kill and rmdir."""
    found = detect(root)
    found._kill = kernel.kill  # type: ignore[method-assign]
    found._rmdir = kernel.rmdir  # type: ignore[method-assign]
    return found
