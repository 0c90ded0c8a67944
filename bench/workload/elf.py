"""An executable's shared-library closure, resolved the way the dynamic loader resolves it.

For each object: its interpreter (PT_INTERP), then every DT_NEEDED name searched in the
loader's order: DT_RPATH (only when the object has no DT_RUNPATH, and the executable's
too), LD_LIBRARY_PATH (only when the workload's environment sets it), DT_RUNPATH, the
directories /etc/ld.so.cache is built from (/etc/ld.so.conf and its includes), then the
system's default directories. A candidate must be an ELF file of the object's class and
machine, as the loader checks. $ORIGIN, $LIB and $PLATFORM are expanded. A name found
nowhere is an error naming the object that needs it and every directory searched.
"""

from __future__ import annotations

import glob
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment

from foundation.errors import WorkloadError

LD_SO_CONF = Path("/etc/ld.so.conf")
# glibc's built-in trusted directories on a multiarch (Debian) and a plain 64-bit host
DEFAULT_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
                "/lib", "/usr/lib")
ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class ElfInfo:
    """What the loader reads from one object."""

    path: str
    elfclass: int
    machine: str
    interpreter: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == ELF_MAGIC
    except OSError:
        return False


def read_elf(path: str) -> ElfInfo:
    try:
        with open(path, "rb") as handle:
            elf = ELFFile(handle)
            interpreter = next((str(seg.get_interp_name()) for seg in elf.iter_segments()
                                if isinstance(seg, InterpSegment)), None)
            needed: list[str] = []
            rpath: list[str] = []
            runpath: list[str] = []
            for section in elf.iter_sections():
                if not isinstance(section, DynamicSection):
                    continue
                for tag in section.iter_tags():
                    kind = tag.entry.d_tag
                    if kind == "DT_NEEDED":
                        needed.append(tag_text(tag, "needed"))
                    elif kind == "DT_RPATH":
                        rpath += tag_text(tag, "rpath").split(":")
                    elif kind == "DT_RUNPATH":
                        runpath += tag_text(tag, "runpath").split(":")
            return ElfInfo(path, elf.elfclass, elf["e_machine"], interpreter, tuple(needed),
                           tuple(rpath), tuple(runpath))
    except (OSError, ELFError) as error:
        raise WorkloadError(f"cannot read {path} as an ELF file: {error}") from None


def tag_text(tag: object, name: str) -> str:
    """A string-valued dynamic tag (pyelftools sets it as an attribute named after the tag)."""
    return str(getattr(tag, name))


def expand(entry: str, origin: str) -> str:
    """$ORIGIN, $LIB and $PLATFORM in an RPATH/RUNPATH entry, as the loader expands them."""
    lib = "lib/x86_64-linux-gnu" if Path("/lib/x86_64-linux-gnu").is_dir() else "lib64"
    for name, value in (("ORIGIN", origin), ("LIB", lib), ("PLATFORM", platform.machine())):
        entry = entry.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return entry


def conf_dirs(path: Path = LD_SO_CONF, seen: set[Path] | None = None) -> list[str]:
    """The directories of ld.so.conf, includes followed in order (what ldconfig caches)."""
    seen = set() if seen is None else seen
    if path in seen or not path.is_file():
        return []
    seen.add(path)
    dirs: list[str] = []
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include "):
            for pattern in line.split()[1:]:
                pattern = pattern if pattern.startswith("/") else str(path.parent / pattern)
                for included in sorted(glob.glob(pattern)):
                    dirs += conf_dirs(Path(included), seen)
        elif not line.startswith("hwcap "):
            dirs.append(line)
    return dirs


class Resolver:
    """Resolves objects' dependencies the loader's way, for one environment."""

    def __init__(self, library_path: tuple[str, ...] = ()) -> None:
        self.library_path = library_path
        self.system = tuple(dict.fromkeys([*conf_dirs(), *DEFAULT_DIRS]))
        self._cache: dict[str, ElfInfo] = {}

    def info(self, path: str) -> ElfInfo:
        if path not in self._cache:
            self._cache[path] = read_elf(path)
        return self._cache[path]

    def matches(self, candidate: str, wanted: ElfInfo) -> bool:
        if not os.path.isfile(candidate) or not is_elf(Path(candidate)):
            return False
        found = self.info(candidate)
        return (found.elfclass, found.machine) == (wanted.elfclass, wanted.machine)

    def search_dirs(self, obj: ElfInfo, executable: ElfInfo) -> list[str]:
        origin = os.path.dirname(obj.path)
        dirs: list[str] = []
        if not obj.runpath:
            dirs += [expand(d, origin) for d in obj.rpath if d]
            if obj is not executable and not executable.runpath:
                dirs += [expand(d, os.path.dirname(executable.path)) for d in executable.rpath if d]
        dirs += list(self.library_path)
        dirs += [expand(d, origin) for d in obj.runpath if d]
        return dirs + list(self.system)

    def find(self, name: str, obj: ElfInfo, executable: ElfInfo) -> str:
        if "/" in name:
            return name
        dirs = self.search_dirs(obj, executable)
        for directory in dirs:
            candidate = os.path.join(directory, name)
            if self.matches(candidate, obj):
                return os.path.normpath(candidate)
        raise WorkloadError(f"the library {name} needed by {obj.path} cannot be resolved "
                            f"(searched {', '.join(dict.fromkeys(dirs))})")

    def closure(self, executable: str) -> list[str]:
        """The executable, its interpreter and every library it loads, in load order."""
        root = self.info(executable)
        order: list[str] = [executable]
        if root.interpreter:
            order.append(root.interpreter)
        queue = [root]
        while queue:
            obj = queue.pop(0)
            for name in obj.needed:
                path = self.find(name, obj, root)
                if path not in order:
                    order.append(path)
                    queue.append(self.info(path))
        return order


def shebang(path: Path) -> list[str]:
    """A script's interpreter line, split; [] for anything else."""
    try:
        with path.open("rb") as handle:
            head = handle.read(256)
    except OSError:
        return []
    if not head.startswith(b"#!"):
        return []
    return head[2:].split(b"\n", 1)[0].decode(errors="replace").split()[:2]


def executable_closure(path: str, resolver: Resolver) -> Iterator[str]:
    """Every file running `path` needs: a script's interpreter and its closure, or an ELF
    file's closure; a file that is neither stands alone."""
    yield path
    interpreter = shebang(Path(path))
    if interpreter:
        yield from executable_closure(interpreter[0], resolver)
    elif is_elf(Path(path)):
        yield from resolver.closure(path)[1:]
