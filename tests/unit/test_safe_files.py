"""No link planted at a predictable path makes bench write through it; output paths that cannot
hold a run are refused in one line; one writer per results directory; the cache hands out
only binaries whose content matches their recorded hash."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile
from pathlib import Path

import pytest

from bench.cli import main
from bench.leftovers import check_run_id, clean_leftovers, live_runs, scratch_dirs
from bench.results.lock import DirectoryLock, is_locked
from bench.results.manifest import Manifest, RunConfig, read_manifest
from bench.results.resume import drop_unfinished_samples
from bench.results.sample import Sample
from bench.results.writer import RunWriter
from bench.runlog import run_log
from foundation.errors import ConfigError, ResultsError
from foundation.files import open_append, write_atomic
from runtimes.guest.initramfs import build_initramfs
from runtimes.host import build
from runtimes.host.build import compile_static

HERE = Path(__file__).parent
VICTIM_TEXT = "precious\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file root must never overwrite: a planted link points here."""
    path = tmp_path / "victim"
    path.write_text(VICTIM_TEXT)
    return path


def plant(link: Path, victim: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)


def untouched(victim: Path) -> bool:
    return victim.read_text() == VICTIM_TEXT and not victim.is_symlink()


# --- the writer -------------------------------------------------------------------------

def test_an_atomic_write_replaces_a_planted_link_and_leaves_no_temporary(tmp_path: Path,
                                                                         victim: Path) -> None:
    target = tmp_path / "out" / "report.html"
    plant(target, victim)
    write_atomic(target, b"new")
    assert untouched(victim)
    assert target.read_bytes() == b"new" and not target.is_symlink()
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    target.write_text("old")

    with pytest.raises(KeyboardInterrupt), pytest.MonkeyPatch.context() as patch:
        def interrupted(*args: object) -> None:
            raise KeyboardInterrupt
        patch.setattr(os, "replace", interrupted)
        write_atomic(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


@pytest.mark.parametrize("name", ["manifest.json", "manifest.partial", "samples.jsonl",
                                  "cells.jsonl", "run.log", "report.html", "report.html.partial",
                                  "samples.jsonl.partial"])
def test_no_file_of_a_resumed_run_is_written_through_a_link(tmp_path: Path, victim: Path,
                                                            name: str) -> None:
    path = tmp_path / "r"
    store = RunWriter.create(path, Manifest(run_id="abc", config=RunConfig({"runtimes": {}})))
    store.append([Sample("p", "w", "boot.total", 1.0, 0, cell=0)])
    store.record_cell({"cell": 0, "key": "p/w/0", "status": "ok", "reason": None})
    store.close()
    if (path / name).exists():
        (path / name).unlink()
    plant(path / name, victim)
    try:
        drop_unfinished_samples(path, {0})
        reopened = RunWriter.reopen(path)
        reopened.append([Sample("p", "w", "boot.total", 2.0, 1, cell=1)])
        reopened.complete(0)
        with run_log(path):
            pass
        reopened.close()
    except ResultsError as error:  # refusing is fine too: writing through is not
        assert "\n" not in str(error)
    assert untouched(victim)


@pytest.mark.parametrize("name", ["samples.jsonl", "cells.jsonl"])
def test_the_files_a_store_appends_to_are_never_opened_through_a_link(tmp_path: Path, victim: Path,
                                                                       name: str) -> None:
    """The files the store appends to are opened with O_NOFOLLOW: a link planted there
    (without a resume's rewrite replacing it first) is refused, not appended through."""
    plant(tmp_path / "alone" / name, victim)
    with pytest.raises(OSError) as refused:
        open_append(tmp_path / "alone" / name).close()
    assert refused.value.errno == errno.ELOOP
    path = tmp_path / "r"
    RunWriter.create(path, Manifest(run_id="abc", config=RunConfig({"runtimes": {}}))).close()
    (path / name).unlink()
    plant(path / name, victim)
    with pytest.raises(ResultsError, match="cannot open its results files"):
        RunWriter.reopen(path)
    assert untouched(victim)


def test_the_report_is_not_written_through_a_link(tmp_path: Path, victim: Path) -> None:
    from reports.html import write_report
    from tests.report_fixtures import write_run

    path = write_run(tmp_path / "r")
    for name in ("report.html", "report.html.partial"):
        plant(path / name, victim)
        write_report([path], path / "report.html")
        assert untouched(victim)
        (path / name).unlink(missing_ok=True)


# --- the cache --------------------------------------------------------------------------

SOURCE = HERE.parent / "integration" / "crasher.c"


def test_a_tampered_cached_binary_is_rebuilt_before_it_is_run(tmp_path: Path) -> None:
    built = compile_static(SOURCE, tmp_path)
    original = built.read_bytes()
    built.write_bytes(b"#!/bin/sh\necho owned\n")
    again = compile_static(SOURCE, tmp_path)
    assert again == built and again.read_bytes() == original


def test_a_link_planted_as_the_cached_binary_is_replaced_not_followed(tmp_path: Path,
                                                                      victim: Path) -> None:
    built = compile_static(SOURCE, tmp_path)
    built.unlink()
    plant(built, victim)
    again = compile_static(SOURCE, tmp_path)
    assert untouched(victim)
    assert not again.is_symlink() and again.read_bytes()[:4] == b"\x7fELF"


def test_a_cache_folder_others_may_write_is_refused(tmp_path: Path) -> None:
    built = compile_static(SOURCE, tmp_path)
    built.unlink()
    os.chmod(built.parent, 0o777)
    with pytest.raises(build.BuildError, match="only it may write"):
        compile_static(SOURCE, tmp_path)


def test_the_compile_leaves_nothing_but_the_binary_and_its_hash(tmp_path: Path) -> None:
    built = compile_static(SOURCE, tmp_path)
    assert sorted(p.name for p in built.parent.iterdir()) == ["crasher", "crasher.sha256"]
    assert stat.S_IMODE(built.stat().st_mode) == 0o755


def test_the_initramfs_is_checked_and_never_written_through_a_link(tmp_path: Path,
                                                                   victim: Path) -> None:
    probe = tmp_path / "probe"
    probe.write_bytes(b"\x7fELF probe")
    archive = build_initramfs(probe, tmp_path / "cache")
    good = archive.read_bytes()
    archive.write_bytes(b"torn")
    assert build_initramfs(probe, tmp_path / "cache").read_bytes() == good
    archive.unlink()
    plant(archive, victim)
    assert build_initramfs(probe, tmp_path / "cache").read_bytes() == good
    assert untouched(victim)


# --- where a run may write --------------------------------------------------------------

def output_cases(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    linked = tmp_path / "linked"
    (tmp_path / "real").mkdir()
    linked.symlink_to(tmp_path / "real")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    return {"a file": a_file, "/dev/null": Path("/dev/null"), "a dangling link": dangling,
            "a link to a directory": linked, "under a file": a_file / "run",
            "a directory in use": tmp_path / "used", "a device's child": Path("/dev/null/run")}


@pytest.mark.parametrize("case", ["a file", "/dev/null", "a dangling link", "a link to a directory",
                                  "under a file", "a directory in use", "a device's child"])
def test_an_output_that_cannot_hold_a_run_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    path = output_cases(tmp_path)[case]
    with pytest.raises(ResultsError) as info:
        RunWriter.create(path, Manifest(run_id="abc"))
    assert "\n" not in str(info.value) and info.value.exit_code == 2
    assert not (tmp_path / "nowhere").exists() and not any((tmp_path / "real").iterdir())


def test_a_full_disk_mid_run_is_one_results_error(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunWriter.create(tmp_path / "r", Manifest(run_id="abc"))

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store._samples, "write", full)
    with pytest.raises(ResultsError, match="No space left on device"):
        store.append([Sample("p", "w", "boot.total", 1.0, 0)])
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(ResultsError, match="cannot write"):
        store.fail("the disk is full")
    store.close()


def test_bench_run_into_a_file_is_one_line_and_exit_2(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("runtimes: {p: {driver: process}}\nworkloads: {i: {mode: ready}}\n")
    assert main(["run", str(config), "-o", "/dev/null"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: /dev/null:") and len(err.splitlines()) == 1


# --- one writer per results directory ----------------------------------------------------

def test_a_second_writer_is_refused_while_the_first_holds_the_directory(tmp_path: Path) -> None:
    first = RunWriter.create(tmp_path / "r", Manifest(run_id="abc", config=RunConfig({})))
    with pytest.raises(ResultsError, match="another bench run is writing"):
        RunWriter.create(tmp_path / "r", Manifest(run_id="def"))
    with pytest.raises(ResultsError, match="another bench run is writing"):
        RunWriter.reopen(tmp_path / "r")
    first.close()
    RunWriter.reopen(tmp_path / "r").close()  # once released, a resume may take it
    assert read_manifest(tmp_path / "r").run_id == "abc"


def lock_outlives_release(tmp_path: Path, inheritable: bool) -> bool:
    """Whether a child started while the lock was held (inheriting every inheritable
    descriptor) keeps the directory locked after the run released it."""
    import subprocess

    lock = DirectoryLock.acquire(tmp_path)
    if inheritable:
        os.set_inheritable(lock.fileno(), True)
    child = subprocess.Popen(["sleep", "30"], close_fds=False)
    try:
        lock.release()
        return is_locked(tmp_path)
    finally:
        child.kill()
        child.wait()


def test_the_lock_is_not_inherited_by_what_a_run_starts(tmp_path: Path) -> None:
    lock = DirectoryLock.acquire(tmp_path)
    try:
        assert fcntl.fcntl(lock.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    finally:
        lock.release()
    assert not lock_outlives_release(tmp_path, inheritable=False)


def test_an_inherited_lock_would_keep_a_dead_run_alive(tmp_path: Path) -> None:
    """The check above can fail: a lock descriptor a child inherits outlives the release."""
    assert lock_outlives_release(tmp_path, inheritable=True)


# --- bench clean and live runs ----------------------------------------------------------

@pytest.fixture
def only_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Clean looks at scratch directories in tmp_path only: no driver's real leftovers (other
    runs on this host) are touched by these tests."""
    import bench.leftovers

    monkeypatch.setattr(bench.leftovers, "targets", lambda configs: [])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_clean_leaves_a_live_run_alone_unless_forced(only_scratch: Path) -> None:
    tmp_path = only_scratch
    live = tmp_path / "bench-a1b2c3-xyzxyz12"
    dead = tmp_path / "bench-d4e5f6-abcabc12"
    live.mkdir()
    dead.mkdir()
    lock = DirectoryLock.acquire(live)
    try:
        assert live_runs() == {"a1b2c3"}
        assert scratch_dirs(None) == [live, dead]
        found = clean_leftovers(None, dry_run=False)
        assert f"temp dir {dead}" in found and f"temp dir {live}" not in found
        assert live.exists() and not dead.exists()
        assert clean_leftovers("a1b2c3", dry_run=True) == []
        assert clean_leftovers("a1b2c3", dry_run=True, force=True) == [f"temp dir {live}"]
    finally:
        lock.release()


@pytest.mark.parametrize("run_id", ["", " ", "../x", "bench-*", "a" * 40, "é"])
def test_clean_refuses_a_run_id_that_is_not_one(run_id: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError):
        check_run_id(run_id)
    assert main(["clean", "--run", run_id, "--dry-run"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_clean_says_which_live_run_it_left_alone(only_scratch: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    live = only_scratch / "bench-0a0b0c-xyzxyz12"
    live.mkdir()
    lock = DirectoryLock.acquire(live)
    try:
        assert main(["clean", "--run", "0a0b0c", "--dry-run"]) == 0
    finally:
        lock.release()
    assert "left run 0a0b0c alone" in capsys.readouterr().out
