"""The results format's one model: its state machine, its versions, and a real version-1
directory made by bench before version 2 (tests/fixtures/results_v1, see its README)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.results.documents import MANIFEST
from bench.results.manifest import (
    MOVES,
    STATUSES,
    Attempt,
    Manifest,
    Resume,
    RunConfig,
    StatusMoveRefused,
    read_manifest,
    stored_manifest,
)
from bench.results.manifest_versions import FORMAT_VERSION, update_to_2
from bench.results.run import load_run
from bench.results.writer import RunWriter, write_manifest
from foundation.errors import ResultsError

ROOT = Path(__file__).parents[2]
VERSION_1 = ROOT / "tests" / "fixtures" / "results_v1"
T0 = 1_796_000_000.0


def copy_of(tmp_path: Path, source: Path = VERSION_1) -> Path:
    target = tmp_path / "run"
    shutil.copytree(source, target)
    return target


def document_of(path: Path) -> dict[str, Any]:
    return dict(json.loads((path / MANIFEST).read_text()))


# --- the state machine -------------------------------------------------------------------

def move(manifest: Manifest, status: str) -> Manifest:
    if status == "complete":
        return manifest.completed(0, T0 + 1)
    if status == "interrupted":
        return manifest.interrupted("SIGINT", T0 + 1)
    if status == "failed":
        return manifest.failed("it broke", T0 + 1)
    return manifest.resumed_at(T0 + 2)


def in_status(status: str) -> Manifest:
    start = Manifest(run_id="r", created=T0)
    return start if status == "running" else move(start, status)


@pytest.mark.parametrize("before", STATUSES)
@pytest.mark.parametrize("after", STATUSES)
def test_the_status_moves_only_as_the_state_machine_says(before: str, after: str) -> None:
    manifest = in_status(before)
    allowed = after in MOVES[before]
    assert allowed == ((before == "running") or (before in ("interrupted", "failed")
                                                 and after == "running"))
    if allowed:
        assert move(manifest, after).status == after
    else:
        with pytest.raises(StatusMoveRefused) as refused:
            move(manifest, after)
        assert (refused.value.before, refused.value.after) == (before, after)
        assert "\n" not in str(refused.value) and refused.value.exit_code == 2


def test_a_resume_keeps_how_the_attempt_before_it_ended_and_clears_it() -> None:
    stopped = Manifest(run_id="r", created=T0, swept=("a container",)).interrupted("SIGTERM", T0 + 5)
    resumed = stopped.resumed_at(T0 + 9, ["a cgroup"])
    assert (resumed.status, resumed.ended, resumed.signal, resumed.swept) == ("running", None, None,
                                                                               ())
    assert resumed.resumed == (Resume(T0 + 9, Attempt("interrupted", T0 + 5, "SIGTERM", None,
                                                      ("a container",)), ("a cgroup",)),)
    assert resumed.attempt == 2
    killed = Manifest(run_id="r", created=T0).resumed_at(T0 + 9)  # its writer never said
    assert killed.resumed[0].stopped == Attempt("killed")
    done = resumed.completed(0, T0 + 20)
    assert (done.status, done.ended, done.signal) == ("complete", T0 + 20, None)


def test_the_writer_moves_the_status_and_a_refused_move_writes_nothing(tmp_path: Path) -> None:
    writer = RunWriter.create(tmp_path / "r", Manifest(run_id="r", created=T0))
    try:
        writer.complete(0)
        written = (tmp_path / "r" / MANIFEST).read_bytes()
        for refused in (lambda: writer.interrupt("SIGINT"), lambda: writer.fail("late"),
                        lambda: writer.resume()):
            with pytest.raises(StatusMoveRefused):
                refused()
        assert (tmp_path / "r" / MANIFEST).read_bytes() == written
        assert read_manifest(tmp_path / "r").status == "complete"
    finally:
        writer.close()


def test_a_run_starts_running_and_the_writer_writes_nothing_a_reader_refuses(
        tmp_path: Path) -> None:
    with pytest.raises(StatusMoveRefused):
        RunWriter.create(tmp_path / "a", Manifest(run_id="r", status="complete"))
    (tmp_path / "b").mkdir()
    with pytest.raises(ResultsError, match="signal is set but the status is running"):
        write_manifest(tmp_path / "b", Manifest(run_id="r", signal="SIGINT"))
    with pytest.raises(ResultsError, match="has the wrong type"):
        write_manifest(tmp_path / "b", replace(Manifest(), run_id=5))  # type: ignore[arg-type]
    assert not (tmp_path / "b" / MANIFEST).exists()


# --- versions ------------------------------------------------------------------------------

def test_a_version_1_directory_made_by_main_reads_upgraded() -> None:
    """The fixture is a real run of an earlier bench: interrupted by SIGINT, resumed, complete.
    Version 1 left `signal` beside `complete`; version 2 gives it to the resume."""
    raw = document_of(VERSION_1)
    assert raw["format_version"] == 1 and raw["status"] == "complete" and raw["signal"] == "SIGINT"
    manifest = read_manifest(VERSION_1)
    assert (manifest.kind, manifest.status, manifest.signal) == ("run", "complete", None)
    assert manifest.resumed == (Resume(raw["resumed"][0], Attempt("interrupted", None, "SIGINT")),)
    assert (manifest.run_id, manifest.created, manifest.ended) == (raw["run_id"], raw["created"],
                                                                   raw["ended"])
    assert dict(manifest.host) == raw["host"] and dict(manifest.drivers) == raw["drivers"]
    assert manifest.config.data == raw["config"] and manifest.baseline == "process"
    assert (manifest.cells, manifest.recorded_cells, manifest.failed_cells) == (8, 8, 0)
    assert manifest.config.runtimes.keys() == {"process", "native"}
    assert manifest.config.driver_of("native") == "native"


def test_a_version_1_directory_summarises_byte_for_byte_as_main_did(
        capsys: pytest.CaptureFixture[str]) -> None:
    """summary.json is what `bench summary --json` printed for this directory before version 2."""
    assert main(["summary", str(VERSION_1), "--json"]) == 0
    assert capsys.readouterr().out == (VERSION_1 / "summary.json").read_text()


def test_a_resumed_version_1_directory_is_written_back_as_version_2(tmp_path: Path) -> None:
    path = copy_of(tmp_path)
    document = document_of(path)
    document.update(status="interrupted", signal="SIGTERM", ended=document["ended"] + 1)
    (path / MANIFEST).write_text(json.dumps(document))
    writer = RunWriter.reopen(path)
    writer.resume(["a leftover"], at=document["ended"] + 5)
    writer.close()
    written = document_of(path)
    assert written["format_version"] == FORMAT_VERSION == 2 and written["kind"] == "run"
    assert written["status"] == "running" and "signal" not in written and "ended" not in written
    assert written["resumed"][-1] == {"at": document["ended"] + 5, "swept": ["a leftover"],
                                      "stopped": {"status": "interrupted", "signal": "SIGTERM",
                                                  "ended": document["ended"]}}
    assert written["resumed"][0] == {"at": document["resumed"][0]}  # its v1 leftover was replaced


@pytest.mark.parametrize(("old", "new"), [
    ({"verify": True}, {"kind": "verify"}),
    ({}, {"kind": "run"}),
    ({"status": "failed", "reason": "late", "resumed": [1.0], "signal": "SIGINT",
      "ended": 3.0},
     {"kind": "run", "status": "failed", "reason": "late", "ended": 3.0,
      "resumed": [{"at": 1.0, "stopped": {"signal": "SIGINT", "status": "interrupted"}}]}),
    ({"status": "running", "resumed": [1.0, 2.0], "ended": 1.5, "swept_before_resume": ["x"]},
     {"kind": "run", "status": "running",
      "resumed": [{"at": 1.0}, {"at": 2.0, "swept": ["x"], "stopped": {"ended": 1.5}}]}),
    ({"status": "complete", "resumed": [1.0], "signal": "SIGINT", "reason": "boom"},
     {"kind": "run", "status": "complete",
      "resumed": [{"at": 1.0, "stopped": {"signal": "SIGINT", "reason": "boom"}}]}),
])
def test_update_to_2(old: dict[str, Any], new: dict[str, Any]) -> None:
    head = {"format": "bench-results", "format_version": 1}
    assert update_to_2({**head, **old}) == {**head, "format_version": 2, **new}
    upgraded = stored_manifest({**head, "status": "complete", **old}, "the store's manifest")
    assert upgraded.kind == new["kind"]


def test_a_newer_version_is_refused_in_one_line_by_every_reader(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = copy_of(tmp_path)
    document = document_of(path)
    document["format_version"] = FORMAT_VERSION + 1
    (path / MANIFEST).write_text(json.dumps(document))
    for argv in (["summary", str(path)], ["report", str(path), "-o", str(tmp_path / "r.html")],
                 ["gate", "--uncalibrated", "--baseline", str(VERSION_1), "--candidate", str(path)],
                 ["history", "import", str(path), "--store", str(tmp_path / "h.sqlite")]):
        assert main(argv) == 2, argv
        said = [line for line in capsys.readouterr().err.splitlines()
                if not line.startswith("store: ")]  # (history import names its store after)
        assert len(said) == 1 and re.search(
            rf"results format version {FORMAT_VERSION + 1} is newer than this bench reads "
            rf"\({FORMAT_VERSION}\); upgrade bench", said[0]), said


def test_a_status_bench_never_writes_is_refused(tmp_path: Path) -> None:
    path = copy_of(tmp_path)
    for status, message in ((None, "no status"), ("paused", "status is 'paused', not one of")):
        document = {key: value for key, value in document_of(VERSION_1).items() if key != "status"}
        if status:
            document["status"] = status
        (path / MANIFEST).write_text(json.dumps(document))
        with pytest.raises(ResultsError, match=message):
            load_run(path)


def test_the_config_is_kept_as_data_for_hashes_and_resume() -> None:
    data = {"description": "d", "repetitions": 6, "warmup": 1, "baseline": None,
            "runtimes": {"vm": {"driver": "libvirt"}, "p": {"driver": "process"}},
            "workloads": {"idle": {"mode": "ready"}}, "gate": {"alpha": 0.05}}
    config = RunConfig(data)
    assert (config.description, config.repetitions, config.warmup, config.gate) == (
        "d", 6, 1, {"alpha": 0.05})
    assert list(config.runtimes) == ["vm", "p"] and config.mode_of("idle") == "ready"
    assert Manifest(config=config).baseline == "p"  # the first process runtime
    assert Manifest(config=RunConfig({**data, "baseline": "vm"})).baseline == "vm"


def test_no_reader_takes_a_field_from_a_manifest_as_a_dict() -> None:
    """Issue 22: every reader reads the typed model (grep -c 'manifest.get(' is 0)."""
    found = subprocess.run(["grep", "-rn", "--include=*.py", "manifest.get(", "bench", "reports",
                            "runtimes"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert found.stdout == ""
