"""Command workloads in a guest (libvirt's, or QEMU's started directly): the same tree as
every runtime, on a read-only virtio disk (vda), and the cell's scratch storage on a second
one (vdb), an ext4 image file on the host disk with the configured cache mode.

The initramfs holds the probe as /init, the kernel modules that reading a disk takes
(Debian builds virtio_blk and ext4 as modules, and the virtio transport: virtio_pci on a
PC, virtio_mmio on a microvm), and each workload's spec as a file (the kernel command line
is too short and too strict for a command's arguments). The probe loads the modules, mounts
the tree at /tree and the scratch disk at /tree/scratch, and runs the command chrooted into
the tree, so it sees the same paths as everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from runtimes.commands import SCRATCH_MOUNT, CommandCells, PackagedCommand
from runtimes.guest.disk import Disk, scratch_disk, tree_disk
from runtimes.guest.initramfs import build_initramfs_with
from runtimes.guest.modules import Transport, disk_modules

TREE_DEV, SCRATCH_DEV = "vda", "vdb"
GUEST_TREE = "/tree"
MODULE_LIST = "modules.list"


def spec_path(workload: str) -> str:
    return f"/bench/{workload}.spec"


class GuestCommands:
    """One VM runtime's command workloads: their disks, initramfs and scratch disks."""

    def __init__(self, cache_dir: Path, cells: CommandCells, transport: Transport = "virtio_pci") -> None:
        self.cache_dir = cache_dir
        self.transport = transport  # how the guest reaches its virtio disks
        self.cells = cells  # the driver's: stop() removes each instance's scratch disk
        self.tree_disks: dict[str, Path] = {}  # workload -> its tree's disk
        self.initrd: Path | None = None

    def prepare(self, probe: Path, kernel: Path, commands: Mapping[str, PackagedCommand]) -> None:
        self.cells.set(commands)
        modules = disk_modules(kernel, self.transport)
        files = {f"modules/{m.name}.ko": m.data for m in modules}
        files[MODULE_LIST] = "".join(f"/modules/{m.name}.ko\n" for m in modules).encode()
        for name, packaged in commands.items():
            self.tree_disks[name] = tree_disk(packaged.tree, self.cache_dir)
            files[spec_path(name).lstrip("/")] = self.spec_text(packaged).encode()
        self.initrd = build_initramfs_with(probe, files, [GUEST_TREE.lstrip("/")], self.cache_dir)

    @staticmethod
    def spec_text(packaged: PackagedCommand) -> str:
        spec = packaged.spec
        extra = {"modules": f"/{MODULE_LIST}", "root_dev": f"/dev/{TREE_DEV}", "root": GUEST_TREE}
        if spec.scratch is not None:
            extra["scratch_dev"] = f"/dev/{SCRATCH_DEV}"
        lines = spec.lines(cwd=SCRATCH_MOUNT if spec.scratch else None, extra=extra)
        return "\n".join(lines) + "\n"

    def probe_args(self, workload: str) -> list[str]:
        return [f"spec={spec_path(workload)}"]

    def disks(self, instance: str, workload: str) -> tuple[Disk, ...]:
        """The tree's disk, and a new scratch disk for this cell when the workload has one."""
        spec = self.cells.get(workload).spec
        disks = [Disk(self.tree_disks[workload], TREE_DEV, readonly=True)]
        if spec.scratch is not None:
            folder = spec.scratch.host_dir
            folder.mkdir(parents=True, exist_ok=True)
            image = scratch_disk(folder / f"{instance}-scratch.ext4", spec.scratch.size)
            self.cells.scratch[instance] = image
            disks.append(Disk(image, SCRATCH_DEV, cache=spec.scratch.cache))
        return tuple(disks)

    def cache_modes(self) -> list[str]:
        return sorted({c.spec.scratch.cache for c in self.cells.commands.values() if c.spec.scratch})
