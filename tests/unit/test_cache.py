"""The build cache's ledgers and `bench cache list|prune` on a cache of the test's own
(XDG_CACHE_HOME); images are left alone here (--no-images: tests/integration/test_cache_images.py)."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.cache import default_cache_dir
from bench.cache.entries import cache_entries, user_of
from bench.cache.ledger import hold, read_ledgers
from bench.cli import main
from foundation.errors import ResultsError

OLD = time.time() - 90 * 86_400.0


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache with two trees, a disk of one of them, a probe and a launcher, all last used
    90 days ago but the tree `fresh`."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = default_cache_dir()
    for tree in ("old1", "fresh"):
        (root / "trees" / tree / "root").mkdir(parents=True)
        (root / "trees" / tree / "root" / "file").write_bytes(b"x" * 1000)
    (root / "disks").mkdir()
    (root / "disks" / "tree-old1.ext4").write_bytes(b"d" * 5000)
    (root / "probe-abc").mkdir()
    (root / "probe-abc" / "probe").write_bytes(b"p" * 300)
    (root / "nsrun-def").mkdir()
    (root / "nsrun-def" / "nsrun").write_bytes(b"n" * 200)
    (root / ".build-partial").mkdir()  # a build under way: never an entry
    for path in (root / "trees" / "old1", root / "disks" / "tree-old1.ext4", root / "probe-abc",
                 root / "nsrun-def"):
        os.utime(path, (OLD, OLD))
    yield root


def names(root: Path) -> set[str]:
    return {entry.name for entry in cache_entries(root)}


def test_entries_their_kind_size_and_last_use(cache: Path) -> None:
    entries = {entry.name: entry for entry in cache_entries(cache)}
    assert set(entries) == {"trees/old1", "trees/fresh", "disks/tree-old1.ext4", "probe-abc",
                            "nsrun-def"}
    assert [entries[n].kind for n in ("trees/old1", "disks/tree-old1.ext4", "probe-abc",
                                      "nsrun-def")] == ["tree", "disk", "probe", "build"]
    assert entries["disks/tree-old1.ext4"].digest == "old1"
    assert entries["trees/old1"].size >= 1000 and entries["disks/tree-old1.ext4"].size == 5000
    assert entries["trees/old1"].used == pytest.approx(OLD)


def held_elsewhere(root: str, ready: object, stop: object) -> None:
    """A run in another process: holds its ledger until told to stop, then dies unclean."""
    hold(Path(root), "deadbeef", trees=["old1"], probe=Path(root) / "probe-abc" / "probe",
         probe_digest="p1", scratch_dirs=[Path("/nonexistent/scratch")], results=None)
    ready.set()  # type: ignore[attr-defined]
    stop.wait(60)  # type: ignore[attr-defined]
    os._exit(0)  # no atexit: the ledger stays, as a SIGKILL leaves it


def test_a_ledger_is_live_while_its_run_is_and_names_what_it_uses(cache: Path) -> None:
    context = multiprocessing.get_context("fork")
    ready, stop = context.Event(), context.Event()
    run = context.Process(target=held_elsewhere, args=(str(cache), ready, stop))
    run.start()
    try:
        assert ready.wait(30)
        [ledger] = read_ledgers(cache)
        assert (ledger.run_id, ledger.live, ledger.trees) == ("deadbeef", True, ("old1",))
        assert ledger.scratch_dirs == ("/nonexistent/scratch",)
        users = {entry.name: user_of(entry, [ledger]) for entry in cache_entries(cache)}
        assert users["trees/old1"] == users["disks/tree-old1.ext4"] == "run deadbeef"
        assert users["probe-abc"] == "run deadbeef" and users["trees/fresh"] is None
        assert users["nsrun-def"] == "1 live run(s) may use it"  # no ledger can name it
    finally:
        stop.set()
        run.join(30)
    [ledger] = read_ledgers(cache)
    assert not ledger.live  # its process is gone: the kernel dropped the lock


def test_a_run_releases_its_ledger_and_touches_what_it_uses(cache: Path) -> None:
    held = hold(cache, "cafe01", trees=["old1"], probe=None, probe_digest=None,
                scratch_dirs=[], results=None)
    assert [ledger.live for ledger in read_ledgers(cache)] == [True]
    assert (cache / "trees" / "old1").stat().st_mtime > OLD + 86_400  # used now
    held.release()
    held.release()
    assert read_ledgers(cache) == []


def test_a_run_id_that_is_not_one_names_no_ledger(cache: Path) -> None:
    with pytest.raises(ResultsError):
        hold(cache, "../escape", trees=[], probe=None, probe_digest=None, scratch_dirs=[],
             results=None)
    assert not (cache / "escape.json").exists()


def test_prune_by_age_keeps_what_a_live_run_uses(cache: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    held = hold(cache, "cafe02", trees=["old1"], probe=None, probe_digest=None, scratch_dirs=[],
                results=None)
    try:
        for path in (cache / "trees" / "old1", cache / "disks" / "tree-old1.ext4"):
            os.utime(path, (OLD, OLD))  # used long ago, and by a live run now
        assert main(["cache", "prune", "--older-than", "30", "--no-images", "--dry-run"]) == 0
        assert "would remove probe probe-abc" in capsys.readouterr().out
        assert len(names(cache)) == 5
        assert main(["cache", "prune", "--older-than", "30", "--no-images"]) == 0
        printed = capsys.readouterr().out
    finally:
        held.release()
    # the probe is old and unused; the launcher is old but a run is live; fresh is fresh
    assert names(cache) == {"trees/old1", "trees/fresh", "disks/tree-old1.ext4", "nsrun-def"}
    assert "removed probe probe-abc" in printed and "1 removed" in printed
    assert main(["cache", "prune", "--unused", "--no-images"]) == 0
    assert names(cache) == set()
    assert (cache / ".build-partial").is_dir()


def test_list_as_json(cache: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.cache.actions as command

    monkeypatch.setattr(command, "all_images", lambda: ([], ["docker: not asked here"]))
    assert main(["cache", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["cache"] == str(cache) and listed["live_runs"] == []
    assert {entry["name"]: entry["in_use"] for entry in listed["entries"]}["trees/old1"] is None
    assert main(["cache", "prune", "--older-than", "-1"]) == 2
