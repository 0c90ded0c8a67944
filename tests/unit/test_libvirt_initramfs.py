"""The guest initramfs: a newc archive the kernel can unpack, cached by content."""

from __future__ import annotations

import gzip
import stat
from pathlib import Path

from runtimes.guest.initramfs import build_initramfs, probe_entries, write_newc


def read_newc(data: bytes) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    """A minimal newc reader: (name, mode, data, rdev) per member, trailer excluded."""
    members: list[tuple[str, int, bytes, tuple[int, int]]] = []
    offset = 0
    while True:
        assert data[offset:offset + 6] == b"070701", offset
        fields = [int(data[offset + 6 + 8 * i:offset + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev, namesize = fields[1], fields[6], (fields[9], fields[10]), fields[11]
        name_end = offset + 110 + namesize
        name = data[offset + 110:name_end - 1].decode()
        start = name_end + (-name_end % 4)
        body = data[start:start + size]
        offset = start + size + (-(start + size) % 4)
        if name == "TRAILER!!!":
            assert offset == len(data)
            return members
        members.append((name, mode, body, rdev))


def test_archive_holds_the_probe_as_init_and_probe_and_a_console(tmp_path: Path) -> None:
    members = {name: (mode, body, rdev) for name, mode, body, rdev in
               read_newc(write_newc(probe_entries(b"\x7fELF-probe")))}
    assert set(members) == {"dev", "proc", "sys", "tmp", "dev/console", "init", "probe"}
    for folder in ("dev", "proc", "sys", "tmp"):
        assert stat.S_ISDIR(members[folder][0])
    mode, _, rdev = members["dev/console"]
    assert stat.S_ISCHR(mode) and rdev == (5, 1)
    for name in ("init", "probe"):
        mode, body, _ = members[name]
        assert stat.S_ISREG(mode) and mode & 0o111 and body == b"\x7fELF-probe"


def test_archive_is_deterministic_and_padded() -> None:
    first = write_newc(probe_entries(b"abc"))
    assert first == write_newc(probe_entries(b"abc"))
    assert len(first) % 4 == 0


def test_build_is_cached_by_content_and_leaves_no_partial_file(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.write_bytes(b"one")
    cache = tmp_path / "cache"
    plain = build_initramfs(probe, cache)
    assert build_initramfs(probe, cache) == plain
    packed = build_initramfs(probe, cache, compress=True)
    assert packed.name.endswith(".cpio.gz")
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    probe.write_bytes(b"two")
    assert build_initramfs(probe, cache) != plain
    assert sorted(p.name for p in cache.iterdir() if "partial" in p.name) == []
    assert len(list(cache.iterdir())) == 3
    assert plain.stat().st_mode & 0o044 == 0o044  # a non-root qemu can read it
