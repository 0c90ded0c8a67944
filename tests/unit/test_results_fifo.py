"""Readers never block on what is not a regular file (issue 20, point 9).

A FIFO (with no writer) named manifest.json, samples.jsonl, cells.jsonl or verify.json
hung every reader: open() waits for a writer. Each is now opened without blocking, checked
on its descriptor, and refused in one line with exit 2; so are a socket, a character
device and a link to any of them. Each command runs in a thread with a deadline, so a
reader that blocks fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.cli import main
from bench.results.crosschecks import VERIFY
from bench.results.documents import CELLS, MANIFEST, SAMPLES
from bench.results.recorded_noise import noise_change
from bench.results.resume import finished_cells
from foundation.errors import ResultsError
from tests.report_fixtures import write_run

DEADLINE_S = 20


def within_deadline(action: Callable[[], object]) -> object:
    """The action's result, raised error included; a call still blocked at the deadline
    fails the test (the thread is left to the process's end: it cannot be cancelled)."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = action()
        except BaseException as error:  # noqa: BLE001 (handed to the test's thread)
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    assert not thread.is_alive(), "the reader blocked"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def replace_with(path: Path, make: str) -> None:
    """Put a FIFO, a socket, a character device or a link to a FIFO where the file was."""
    if path.exists():
        path.unlink()
    if make == "fifo":
        os.mkfifo(path)
    elif make == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()  # the socket file stays; nobody listens
    elif make == "device":
        path.symlink_to("/dev/zero")
    else:
        fifo = path.with_name(path.name + ".fifo")
        os.mkfifo(fifo)
        path.symlink_to(fifo.name)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("fifo") / "run")


@pytest.mark.parametrize("make", ["fifo", "socket", "device", "link"])
@pytest.mark.parametrize("name", [MANIFEST, SAMPLES])
@pytest.mark.parametrize("command", ["summary", "report", "gate", "export"])
def test_every_reader_refuses_in_one_line(template: Path, tmp_path: Path, name: str, make: str,
                                          command: str, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(template, run)
    replace_with(run / name, make)
    argv = {"summary": ["summary", str(run)], "report": ["report", str(run)],
            "gate": ["gate", "--baseline", str(template), "--candidate", str(run),
                     "--allow-host-change", "--uncalibrated"],
            "export": ["export", str(run), "--output", str(tmp_path / "out.csv")]}[command]
    assert within_deadline(lambda: main(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "where a regular file belongs" in err, err


@pytest.mark.parametrize("name", [CELLS, VERIFY])
def test_cells_and_cross_checks_are_refused_too(template: Path, tmp_path: Path, name: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(template, run)
    replace_with(run / name, "fifo")
    assert within_deadline(lambda: main(["report", str(run)])) == 2
    assert f"{name}: a FIFO where a regular file belongs" in capsys.readouterr().err
    if name == CELLS:
        with pytest.raises(ResultsError, match="a FIFO where a regular file belongs"):
            within_deadline(lambda: noise_change(run, 2))
        manifest = json.loads((run / MANIFEST).read_text())
        (run / MANIFEST).write_text(json.dumps({**manifest, "status": "interrupted"}))
        with pytest.raises(ResultsError, match="a FIFO where a regular file belongs"):
            within_deadline(lambda: finished_cells(run, manifest["config"]))
