"""Kernel modules a guest needs before it can read a disk, taken from the host's
/lib/modules for the guest kernel's release, in dependency order (modules.dep).

Debian's kernel builds virtio_blk and ext4 as modules; with the probe as /init there is
no udev or modprobe to load them, so the probe loads the files listed here itself.
"""

from __future__ import annotations

import lzma
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from foundation.errors import RuntimeUnavailable

MODULES_ROOT = Path("/lib/modules")
# how a guest's virtio devices reach it: PCI on a PC (q35, pc), memory-mapped on a microvm
Transport = Literal["virtio_pci", "virtio_mmio"]
DISK_MODULES = ("virtio_blk", "crc32c_generic", "ext4")  # ext4 asks for crc32c
RELEASE = re.compile(r"vmlinuz-(.+)$")


@dataclass(frozen=True)
class Module:
    name: str  # e.g. virtio_blk
    data: bytes  # the uncompressed .ko


def kernel_release(kernel: Path) -> str:
    match = RELEASE.search(kernel.name)
    if match is None:
        raise RuntimeUnavailable(f"cannot tell the release of the guest kernel {kernel} (a "
                                 "vmlinuz-<release> name is needed to find its modules)")
    return match.group(1)


def module_name(path: str) -> str:
    return Path(path).name.split(".ko", 1)[0].replace("-", "_")


def parse_dep(text: str) -> dict[str, tuple[str, list[str]]]:
    """modules.dep: name -> (its path, the paths it depends on)."""
    table = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, deps = line.split(":", 1)
        table[module_name(path)] = (path, deps.split())
    return table


def load_order(wanted: tuple[str, ...], table: dict[str, tuple[str, list[str]]],
               builtin: set[str]) -> list[str]:
    """The module paths to load, each after what it depends on; built-in ones skipped."""
    order: list[str] = []
    for name in wanted:
        if name in builtin:
            continue
        if name not in table:
            raise RuntimeUnavailable(f"the guest kernel has no module {name} (not in modules.dep "
                                     "nor built in): a guest disk needs it")
        path, deps = table[name]
        for dep in [*reversed(deps), path]:
            if dep not in order:
                order.append(dep)
    return order


def read_module(path: Path) -> bytes:
    if path.suffix == ".xz":
        return lzma.decompress(path.read_bytes())
    if path.suffix == ".ko":
        return path.read_bytes()
    raise RuntimeUnavailable(f"{path}: only .ko and .ko.xz modules can be loaded by the probe")


def disk_modules(kernel: Path, transport: Transport = "virtio_pci",
                 root: Path = MODULES_ROOT) -> list[Module]:
    """What the guest loads, in order, to mount an ext4 virtio disk over this transport."""
    base = root / kernel_release(kernel)
    try:
        table = parse_dep((base / "modules.dep").read_text())
        builtin_file = base / "modules.builtin"
        listed = builtin_file.read_text().split() if builtin_file.exists() else []
        builtin = {module_name(p) for p in listed}
    except OSError as error:
        raise RuntimeUnavailable(f"cannot read the guest kernel's modules in {base} "
                                 f"({error.strerror}): install its linux-image package") from error
    return [Module(module_name(path), read_module(base / path))
            for path in load_order((transport, *DISK_MODULES), table, builtin)]
