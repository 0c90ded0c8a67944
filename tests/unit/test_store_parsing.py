"""Results directories, the probe's line protocol, stamped output and /proc parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.results.manifest import Manifest, read_manifest
from bench.results.manifest_versions import FORMAT
from bench.results.records import read_lines
from bench.results.sample import Sample
from bench.results.writer import RunWriter
from foundation.errors import InstanceError, InstanceTimeout, ResultsError
from runtimes.host.memory import parse_rollup_pss, parse_smaps, split_vmm
from runtimes.instance import Instance, StampedLines
from runtimes.protocol import exit_status, parse_meminfo, parse_syscalls, probe_errors


def test_store_round_trip_and_torn_tail(tmp_path: Path) -> None:
    store = RunWriter.create(tmp_path / "r", Manifest(run_id="x"))
    store.append([Sample("a", "w", "boot.total", 1.5, 0)])
    store.close()
    with open(tmp_path / "r" / "samples.jsonl", "a") as file:
        file.write('{"runtime": "a", "wor')  # a run killed mid-write
    assert [r["value"] for r in read_lines(tmp_path / "r", "samples.jsonl")] == [1.5]


def test_store_refuses_to_overwrite(tmp_path: Path) -> None:
    RunWriter.create(tmp_path / "r", Manifest()).close()
    with pytest.raises(ResultsError, match="not empty"):
        RunWriter.create(tmp_path / "r", Manifest())


@pytest.mark.parametrize(("manifest", "message"), [
    (None, "no manifest.json"),
    ("{trunc", "unreadable or truncated"),
    (json.dumps({"format": "asv"}), "another tool"),
    (json.dumps({"format": FORMAT, "format_version": 99}), "newer than this bench reads"),
])
def test_unreadable_results_are_refused(tmp_path: Path, manifest: str | None, message: str) -> None:
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(manifest)
    with pytest.raises(ResultsError, match=message):
        read_manifest(tmp_path)


def test_failed_sample_has_no_value(tmp_path: Path) -> None:
    failed = Sample.failed("a", "w", "boot.total", 0, "it broke")
    assert failed.value is None and failed.status == "failed" and failed.unit == "ms"
    store = RunWriter.create(tmp_path / "r", Manifest(run_id="x"))
    refused = store.append([Sample("a", "w", "boot.total", None, 0)])  # ok, yet no value
    store.close()
    assert refused == ["invalid value, not recorded: boot.total must be a number (got nothing)"]
    [row] = read_lines(tmp_path / "r", "samples.jsonl")
    assert (row["status"], row["value"], row["reason"]) == ("failed", None, refused[0])


def test_probe_protocol() -> None:
    lines = ["BENCH-READY syscall", "BENCH-MEMINFO MemTotal=100 MemAvailable=50",
             "BENCH-SYSCALL getppid 0 250.5", "BENCH-ERROR oops", "BENCH-DONE 0"]
    assert parse_syscalls(lines)[0].ns_per_call == 250.5
    meminfo = parse_meminfo(lines)
    assert meminfo is not None and meminfo.total == 102400
    assert probe_errors(lines) == ["oops"]
    assert exit_status(lines) == 0
    with pytest.raises(InstanceError):
        parse_syscalls(["BENCH-SYSCALL getppid"])


def test_stamped_lines_split_chunks_and_keep_arrival_stamps() -> None:
    out = StampedLines()
    out.feed(b"BENCH-REA", 10)
    out.feed(b"DY x\npartial", 20)
    assert out.wait_for("BENCH-READY", 0, "t") == (20, "BENCH-READY x")
    assert out.first_byte_ns == 10
    with pytest.raises(InstanceTimeout):
        out.wait_for("BENCH-DONE", 0, "t")
    out.close()
    assert out.text()[-1] == "partial"
    with pytest.raises(InstanceError, match="ended before"):
        out.wait_for("BENCH-DONE", 0, "t")


def test_phases_are_ordered_and_add_up_to_the_total() -> None:
    instance = Instance("i", requested_ns=1_000_000)
    instance.mark("start", 4_000_000)
    instance.mark("create", 2_000_000)
    instance.mark("ready", 9_000_000)
    assert instance.boot_phases() == {"create": 1.0, "start": 2.0, "ready": 5.0}
    assert sum(instance.boot_phases().values()) == instance.boot_total_ms() == 8.0


def test_proc_parsers() -> None:
    assert parse_rollup_pss("Rss: 10 kB\nPss:   20 kB\n") == 20480


# QEMU under TCG with 256 MiB of guest RAM, as /proc/PID/smaps shows it (abridged): the binary,
# the RAM block, a guard page, and the 1 GiB translation cache (larger than the RAM).
QEMU_SMAPS = """\
5652de4c7000-5652dea5e000 r-xp 00407000 fe:00 2170970                    /usr/bin/qemu-system-x86_64
Rss:                5392 kB
Pss:                5000 kB
7fc0339ff000-7fc033c00000 rw-p 00000000 00:00 0
Rss:                2052 kB
Pss:                2052 kB
7fc033e00000-7fc043e00000 rw-p 00000000 00:00 0
Rss:              124928 kB
Pss:              124928 kB
7fc043e00000-7fc043e01000 ---p 00000000 00:00 0
Rss:                   0 kB
Pss:                   0 kB
7fc044000000-7fc083fff000 rwxp 00000000 00:00 0
Rss:               43008 kB
Pss:               43008 kB
"""


def test_the_guest_ram_is_the_block_of_its_exact_size_and_the_code_cache_is_apart() -> None:
    maps = parse_smaps(QEMU_SMAPS)
    assert [m.size for m in maps][1:4] == [0x201000, 256 << 20, 4096]
    assert maps[0].path == "/usr/bin/qemu-system-x86_64" and maps[1].anonymous
    split = split_vmm(maps, 256 << 20)
    assert split.guest_ram == 124928 * 1024
    assert split.code_cache == 43008 * 1024
    assert split.vmm == (5000 + 2052) * 1024
    assert split.guest_ram_mapping.start == 0x7fc033e00000


def test_a_guest_ram_that_cannot_be_told_apart_is_an_error() -> None:
    with pytest.raises(InstanceError, match="0 anonymous read-write mappings"):
        split_vmm(parse_smaps(QEMU_SMAPS), 512 << 20)
    doubled = QEMU_SMAPS.replace("7fc0339ff000-7fc033c00000", "7fc023e00000-7fc033e00000")
    with pytest.raises(InstanceError, match="2 anonymous read-write mappings"):
        split_vmm(parse_smaps(doubled), 256 << 20)


def test_stop_phases_run_from_the_stop_request() -> None:
    instance = Instance("i", requested_ns=0)
    assert instance.stop_phases() == {}
    instance.stop_marks = [("exit", 3_000_000), ("remove", 7_000_000)]
    instance.stop_span = (1_000_000, 8_000_000)
    assert instance.stop_phases() == {"exit": 2.0, "remove": 4.0, "total": 7.0}
