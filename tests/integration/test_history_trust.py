"""A history store that cannot be poisoned: its own clock, the origin of every run, run ids
that a different run cannot take over, times refused in one line, a damaged store read run
by run. The same tests on SQLite and on PostgreSQL (tests.history_fixtures)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from bench.cli import main
from bench.history.database import Store, open_store
from bench.history.location import store_url as url_of
from bench.history.queries import Filters, list_runs
from bench.history.record import RUN, record_run
from tests.history_fixtures import history_run, postgres, store_url  # noqa: F401

pytestmark = pytest.mark.integration
UNUSED = Path("/nonexistent/default.sqlite")
T0 = 1_750_000_000.0
YEAR_2099 = 4_070_908_800.0


def opened(url: str) -> Store:
    return open_store(url_of(url, UNUSED))


def run_ids(url: str) -> list[str]:
    store = opened(url)
    try:
        return [line.run_id for line in list_runs(store, Filters())]
    finally:
        store.close()


def lines(text_out: str) -> list[str]:
    return [line for line in text_out.splitlines() if line.strip()]


def test_forged_runs_neither_fail_an_unchanged_candidate_nor_prune_real_runs(
        store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """Issue 20, point 6. Five runs `bench run` recorded here; three forged directories with
    this host's fingerprint and halved medians. Dated 2099 they are refused at import; dated
    inside the bounds (newer than every real run) they are recorded, marked imported, and
    neither decide the gate nor make prune delete a real run. With --include-imported the
    same gate fails: the forged runs are poison, and the default is what keeps them out."""
    store = opened(store_url)
    try:
        for n in range(5):
            record_run(store, history_run(tmp_path / f"real{n}", f"real{n}", T0 + 3600 * n,
                                          seed=n, repetitions=10), RUN)
    finally:
        store.close()
    candidate = history_run(tmp_path / "cand", "cand", T0 + 3600 * 6, seed=60, repetitions=10)
    forged = [history_run(tmp_path / f"forged{n}", f"forged{n}", YEAR_2099 + n, seed=30 + n,
                          scale=0.5, repetitions=10) for n in range(3)]
    capsys.readouterr()
    assert main(["history", "import", "--store", store_url, *map(str, forged)]) == 2
    refused = [line for line in lines(capsys.readouterr().err) if line.startswith("bench:")]
    assert len(refused) == 3 and all("more than a day after the store's clock" in line
                                     for line in refused), refused
    assert sorted(run_ids(store_url)) == [f"real{n}" for n in range(5)]
    now = time.time()
    for n, folder in enumerate(forged):
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["created"] = now - 60 + n  # newer than every real run, and plausible
        (folder / "manifest.json").write_text(json.dumps(manifest))
    assert main(["history", "import", "--store", store_url, *map(str, forged)]) == 0
    capsys.readouterr()
    assert main(["history", "list", "--json", "--store", store_url]) == 0
    runs = {run["run_id"]: run for run in json.loads(capsys.readouterr().out)}
    assert [runs[f"forged{n}"]["origin"] for n in range(3)] == ["import"] * 3
    assert all(runs[f"forged{n}"]["source"].endswith(f":{forged[n]}") for n in range(3))
    assert [runs[f"real{n}"]["origin"] for n in range(5)] == ["run"] * 5
    gate = ["gate", "--candidate", str(candidate), "--history", "5", "--store", store_url,
            "--json", "--uncalibrated"]
    assert main(gate) == 0
    compared = json.loads(capsys.readouterr().out)["baseline"].partition(", runs ")[2]
    assert all(f"real{n}" in compared for n in range(5)) and "forged" not in compared
    assert main([*gate, "--include-imported"]) == 1  # what the forged runs would have done
    capsys.readouterr()
    assert main(["history", "prune", "--keep", "5", "--store", store_url]) == 0
    assert "0 run(s) deleted" in capsys.readouterr().out
    assert sorted(run_ids(store_url)) == sorted([*(f"real{n}" for n in range(5)),
                                                 *(f"forged{n}" for n in range(3))])


def test_a_different_run_with_an_existing_id_is_refused(store_url: str, tmp_path: Path,  # noqa: F811
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 20, point 7: the first run keeps its id; the other is refused in one line and
    nothing of it is written; importing the first again changes nothing."""
    first = history_run(tmp_path / "first", "same", T0)
    other = history_run(tmp_path / "other", "same", T0 + 60, seed=9)
    assert main(["history", "import", "--store", store_url, str(first)]) == 0
    capsys.readouterr()
    assert main(["history", "import", "--store", store_url, str(other)]) == 2
    printed = capsys.readouterr()
    refusal = [line for line in lines(printed.err) if line.startswith("bench:")]
    assert len(refusal) == 1 and "different run with this id" in refusal[0], printed.err
    assert main(["history", "show", "same", "--json", "--store", store_url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run"]["path"] == str(first) and shown["manifest"]["created"] == T0
    assert main(["history", "import", "--store", store_url, str(first)]) == 0
    assert capsys.readouterr().out.startswith("unchanged same")


@pytest.mark.parametrize("claim", [1e20, -1.0, "yesterday", None])
def test_a_time_no_run_could_have_is_refused_in_one_line(
        claim: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = history_run(tmp_path / "run", "odd", T0)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["created"] = claim
    (run / "manifest.json").write_text(json.dumps(manifest))
    store = str(tmp_path / "history.sqlite")
    capsys.readouterr()
    assert main(["history", "import", "--store", store, str(run)]) == 2
    printed = capsys.readouterr()
    assert len([line for line in lines(printed.err) if line.startswith("bench:")]) == 1
    assert "Traceback" not in printed.err
    assert run_ids(store) == []


def test_a_store_holding_an_impossible_time_still_reads(store_url: str, tmp_path: Path,  # noqa: F811
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`created: 1e20`, written by an older bench, once crashed list, show and trend for
    everyone on the store: now every command reads it and shows what it is."""
    store = opened(store_url)
    try:
        for name in ("far", "near"):
            record_run(store, history_run(tmp_path / name, name, T0), RUN)
        with store.writing() as connection:
            connection.execute(text("UPDATE runs SET created = 1e20 WHERE run_id = 'far'"))
    finally:
        store.close()
    capsys.readouterr()
    assert main(["history", "list", "--store", store_url]) == 0
    assert "out of range (1e+20)" in capsys.readouterr().out
    assert main(["history", "show", "far", "--store", store_url]) == 0
    assert main(["history", "export", "--store", store_url, "--format", "json"]) == 0
    assert main(["trend", "--store", store_url, "-o", str(tmp_path / "trend.html")]) == 0
    assert main(["history", "prune", "--keep", "1", "--dry-run", "--store", store_url]) == 0
    assert "Traceback" not in capsys.readouterr().err


def damage(store_url: str) -> None:  # noqa: F811
    """Four runs; three of them damaged the way a hand edit or an old bench leaves a store:
    a start time as text (SQLite keeps any type), a manifest that is not JSON (or, where the
    database checks JSON, not an object), a summary row that is a number."""
    store = opened(store_url)
    try:
        sqlite = store.engine.dialect.name == "sqlite"
        with store.writing() as connection:
            if sqlite:
                connection.execute(text("UPDATE runs SET created = 'yesterday' WHERE run_id = 'a'"))
                connection.execute(text("UPDATE runs SET manifest = '{not json' WHERE run_id = 'b'"))
            else:
                connection.execute(text("UPDATE runs SET received = NULL WHERE run_id = 'a'"))
                connection.execute(text("UPDATE runs SET manifest = '\"text\"' WHERE run_id = 'b'"))
            connection.execute(text("UPDATE rows SET data = '5' WHERE run_pk = "
                                    "(SELECT id FROM runs WHERE run_id = 'c')"))
    finally:
        store.close()


def test_a_damaged_store_gives_one_line_per_run_and_lists_the_rest(
        store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """Issue 20, point 16."""
    store = opened(store_url)
    try:
        for n, name in enumerate("abcd"):
            record_run(store, history_run(tmp_path / name, name, T0 + 60 * n, seed=n), RUN)
    finally:
        store.close()
    damage(store_url)
    capsys.readouterr()
    assert main(["history", "list", "--store", store_url]) == 2
    printed = capsys.readouterr()
    assert all(f"\n{name} " in printed.out for name in "bcd") and "\na " not in printed.out
    [error] = lines(printed.err)
    assert "run a: created is not a number ('yesterday')" in error or (
        "run a: received is not a number (None)" in error), error
    for name, what in (("a", "run a:"), ("b", "run b: manifest is not")):
        assert main(["history", "show", name, "--store", store_url]) == 2
        shown = capsys.readouterr()
        assert len(lines(shown.err)) == 1 and what in shown.err and shown.out == "", shown.err
    assert main(["history", "show", "c", "--store", store_url]) == 2
    assert "run c: a summary row's data is not a JSON object" in capsys.readouterr().err
    assert main(["history", "show", "d", "--store", store_url]) == 0
    capsys.readouterr()
    assert main(["history", "export", "--store", store_url, "--format", "json"]) == 2
    exported = capsys.readouterr()
    assert {row["run_id"] for row in json.loads(exported.out)} == {"b", "d"}
    errors = lines(exported.err)
    assert len(errors) == 2 and "run a: " in errors[0] + errors[1] and "run c: " in errors[1] + errors[0]
    assert main(["trend", "--store", store_url, "-o", str(tmp_path / "trend.html")]) == 2
    assert (tmp_path / "trend.html").stat().st_size > 0
    capsys.readouterr()
    candidate = history_run(tmp_path / "cand", "cand", T0 + 3600, seed=9)
    assert main(["gate", "--candidate", str(candidate), "--history", "5", "--store", store_url,
                 "--json", "--uncalibrated"]) in (0, 1)
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("left out run b: manifest is not" in note for note in notes), notes
    assert main(["history", "prune", "--keep", "1", "--store", store_url]) == 2
    assert "run a:" in capsys.readouterr().err
    assert run_ids_raw(store_url) == {"a", "d"}  # b and c pruned; the unreadable a left alone


def run_ids_raw(store_url: str) -> set[str]:  # noqa: F811
    store = opened(store_url)
    try:
        with store.reading() as connection:
            return set(connection.execute(text("SELECT run_id FROM runs")).scalars())
    finally:
        store.close()


def on_a_terminal(argv: list[str]) -> str:
    """What a command writes to a terminal (a pseudo-terminal here), and its exit status 0."""
    import os

    main_end, terminal = os.openpty()
    process = subprocess.Popen(argv, stdout=terminal, stderr=subprocess.PIPE,
                               env={**os.environ, "COLUMNS": "1000", "LINES": "50"})
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(main_end, 1 << 16)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main_end)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()
    return b"".join(chunks).decode()


def test_history_output_is_terminal_safe_and_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """Issue 20, point 12: escape sequences from a manifest are shown, not obeyed; a reader
    that stops early (`| head`) ends the command quietly, whatever it was printing."""
    evil = "x\x1b[31mred\x1b]0;owned\x07\nsecond line\u202e"
    store = str(tmp_path / "history.sqlite")
    run = history_run(tmp_path / "evil", "evil", T0, config_branch=evil, config_commit=evil,
                      host={"hostname": evil})
    opened_store = opened(store)
    try:
        record_run(opened_store, run)
        with opened_store.writing() as connection:  # many runs: more than a pipe holds
            for n in range(1500):
                connection.execute(text(
                    "INSERT INTO runs (run_id, created, recorded, received, host_hash, "
                    "config_hash, hostname, config_name, status, path, digest, manifest, origin)"
                    " SELECT :id, created, recorded, received + :n, host_hash, config_hash, "
                    "hostname, config_name, status, path, digest, manifest, origin FROM runs "
                    "WHERE run_id = 'evil'"), {"id": f"copy{n}", "n": n + 1})
            for n in range(60):  # and many rows: `show` prints a long table, export a long file
                connection.execute(text(
                    "INSERT INTO rows (run_pk, runtime, workload, metric, count, unit, n, failed,"
                    " median, ci_low, ci_high, data, instances) SELECT run_pk, runtime, workload,"
                    " metric || :tag, count, unit, n, failed, median, ci_low, ci_high, data, "
                    "instances FROM rows WHERE run_pk = (SELECT id FROM runs WHERE run_id = "
                    "'evil') AND metric NOT LIKE '%.copy%'"), {"tag": f".copy{n}"})
    finally:
        opened_store.close()
    for command in (["history", "list", "--limit", "0"], ["history", "show", "evil"],
                    ["history", "export"]):
        shown = on_a_terminal([sys.executable, "-m", "bench.cli", *command, "--store", store])
        for obeyed in ("\x1b[31mred", "\x1b]0;owned", "\x07", "\u202e", "\nsecond line"):
            assert obeyed not in shown, (command, shown[-2000:])  # rich's own colours may be
        assert "\\x1b[31mred" in shown and "\\nsecond line" in shown
    for command in (["history", "list", "--limit", "0"], ["history", "list", "--json", "--limit", "0"],
                    ["history", "show", "evil"], ["history", "export"]):
        reader = subprocess.Popen([sys.executable, "-m", "bench.cli", *command, "--store", store],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert reader.stdout is not None and reader.stdout.readline()
        reader.stdout.close()  # what `| head -1` does
        _, stderr = reader.communicate(timeout=120)
        assert stderr == b"", (command, stderr.decode())  # no BrokenPipeError traceback
        # 128 + SIGPIPE, as a shell reports `yes | head`; a last big write the kernel took
        # in part before the reader left may end without the error, and exits 0
        assert reader.returncode in (0, 141), command
