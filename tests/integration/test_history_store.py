"""The history store against the real thing, the same tests on SQLite and on PostgreSQL.

PostgreSQL is Debian's postgresql-15, started by the fixture on a temporary directory and a
private socket (tests.history_fixtures); these tests fail in CI, never skip, without it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bench.cli import main
from bench.history.database import Store, make_engine, open_store, upgrade
from bench.history.identity import config_hash, host_hash
from bench.history.location import store_url as url_of
from bench.history.queries import Filters, delete_runs, list_runs, prune_plan, row_instances
from bench.history.record import record_run
from bench.history.schema import HEAD, REVISIONS, row_table, run_table
from bench.results.manifest import read_manifest
from foundation.errors import HistoryError
from tests.history_fixtures import history_run, postgres, store_url  # noqa: F401

pytestmark = pytest.mark.integration
UNUSED = Path("/nonexistent/default.sqlite")
T0 = 1_750_000_000.0


def opened(url: str) -> Store:
    return open_store(url_of(url, UNUSED))


def counts(url: str) -> tuple[int, int, int]:
    """Runs, rows, and distinct run ids in the store."""
    store = opened(url)
    try:
        with store.reading() as connection:
            runs = connection.execute(select(func.count()).select_from(run_table)).scalar_one()
            rows = connection.execute(select(func.count()).select_from(row_table)).scalar_one()
            ids = connection.execute(select(func.count(run_table.c.run_id.distinct()))).scalar_one()
    finally:
        store.close()
    return runs, rows, ids


def write_all(url: str, folders: list[Path], go: Any, outcomes: Any) -> None:
    """One writer process: waits for the others, opens the store, records its runs."""
    go.wait(60)
    store = opened(url)
    try:
        for folder in folders:
            outcomes.put(record_run(store, folder).outcome)
    finally:
        store.close()


def test_four_concurrent_writers_lose_and_duplicate_nothing(store_url: str,  # noqa: F811
                                                            tmp_path: Path) -> None:
    """Four processes record into one new store at once (they also race to create it),
    each a run of its own and one run that all four record."""
    shared = history_run(tmp_path / "shared", "shared", T0)
    batches = [[shared, history_run(tmp_path / f"w{w}", f"w{w}", T0 + 60 * (w + 1), seed=w)]
               for w in range(4)]
    context = multiprocessing.get_context("fork")  # no interpreter start-up: they race at once
    go, outcomes = context.Event(), context.Queue()
    writers = [context.Process(target=write_all, args=(store_url, batch, go, outcomes))
               for batch in batches]
    for writer in writers:
        writer.start()
    go.set()
    for writer in writers:
        writer.join(timeout=180)
    assert [writer.exitcode for writer in writers] == [0, 0, 0, 0]
    found = [outcomes.get(timeout=10) for _ in range(8)]
    assert found.count("recorded") == 5 and found.count("unchanged") == 3
    runs, rows, ids = counts(store_url)
    assert runs == ids == 5
    assert rows == 5 * 31  # every summary row of every run, once


def stalled_writer(url: str, folder: Path, marker: Path) -> None:
    """A writer that stops inside its transaction, every row written, nothing committed."""
    import bench.history.record as record

    original = record.insert_rows

    def stalled(connection: Any, run_pk: int, document: Any) -> None:
        original(connection, run_pk, document)
        marker.write_text("inside")
        time.sleep(120)

    record.insert_rows = stalled  # type: ignore[assignment]
    record.record_run(opened(url), folder)


def test_a_writer_killed_mid_write_leaves_the_store_consistent(store_url: str,  # noqa: F811
                                                              tmp_path: Path) -> None:
    first = history_run(tmp_path / "first", "first", T0)
    victim = history_run(tmp_path / "victim", "victim", T0 + 60)
    assert record_run(opened(store_url), first).outcome == "recorded"
    marker = tmp_path / "inside"
    writer = multiprocessing.get_context("fork").Process(
        target=stalled_writer, args=(store_url, victim, marker))
    writer.start()
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and writer.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the writer never reached the middle of its transaction"
    finally:
        os.kill(writer.pid or 0, signal.SIGKILL)
        writer.join(timeout=30)
    assert writer.exitcode == -signal.SIGKILL
    assert counts(store_url) == (1, 31, 1)  # the killed run left nothing, the other is whole
    store = opened(store_url)
    try:
        if store.engine.dialect.name == "sqlite":
            with store.reading() as connection:
                assert connection.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
        assert record_run(store, victim).outcome == "recorded"  # the lock was released
    finally:
        store.close()
    assert counts(store_url) == (2, 62, 2)


def test_importing_the_same_run_twice_changes_nothing(store_url: str,  # noqa: F811
                                                     tmp_path: Path) -> None:
    run = history_run(tmp_path / "run", "same", T0)
    store = opened(store_url)
    try:
        assert record_run(store, run).outcome == "recorded"
        before = list_runs(store, Filters())
        assert record_run(store, run).outcome == "unchanged"
        assert list_runs(store, Filters()) == before
        with (run / "samples.jsonl").open("a") as samples:  # a resumed run measured more
            samples.write('{"runtime": "native", "workload": "idle", "metric": "boot.total", '
                          '"value": 7.0, "repetition": 9, "unit": "ms", "cell": 99, '
                          '"status": "ok"}\n')
        assert record_run(store, run).outcome == "replaced"
    finally:
        store.close()
    assert counts(store_url)[0] == 1


def test_a_store_of_the_previous_schema_is_migrated(store_url: str,  # noqa: F811
                                                   tmp_path: Path) -> None:
    """A store at revision 0001 (no per-instance observations, no received time or origin)
    with a run in it: opening it migrates to the head, keeps the run (received when it was
    recorded, origin unknown), and a re-import fills the new columns."""
    assert REVISIONS[0] == "0001" and HEAD != "0001"
    url = url_of(store_url, UNUSED)
    old = Store(url, make_engine(url))
    run = history_run(tmp_path / "old", "old", T0)
    manifest = read_manifest(run)
    try:
        upgrade(old, "0001")
        with old.writing() as connection:
            connection.execute(text(
                "INSERT INTO runs (run_id, created, recorded, host_hash, config_hash, hostname,"
                " config_name, status, path, digest, manifest) VALUES ('old', :t, :r, :h, :c,"
                " 'runner-1', 'synthetic', 'complete', :path, 'before', '{}')"),
                {"t": T0, "r": T0 + 5, "path": str(run), "h": host_hash(manifest),
                 "c": config_hash(manifest)})
            pk = connection.execute(text("SELECT id FROM runs")).scalar_one()
            connection.execute(text(
                "INSERT INTO rows (run_pk, runtime, workload, metric, count, unit, n, failed,"
                " median, data) VALUES (:pk, 'native', 'idle', 'boot.total', 0, 'ms', 6, 0, 6.5,"
                " '{}')"), {"pk": pk})
    finally:
        old.close()
    store = opened(store_url)
    try:
        with store.reading() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")
                                      ).scalar_one() == HEAD
        [line] = list_runs(store, Filters())
        assert (line.run_id, line.received, line.origin, line.source) == ("old", T0 + 5, None, None)
        assert row_instances(store, ["old"])["old"] == {("native", "idle", "boot.total"): None}
        assert record_run(store, run).outcome == "replaced"
        filled = row_instances(store, ["old"])["old"][("native", "idle", "boot.total")]
        assert filled is not None and len(filled) == 6
        [line] = list_runs(store, Filters())
        assert (line.received, line.origin) == (T0 + 5, "import")  # received once, kept
        assert line.source is not None and line.source.endswith(f":{run}")
    finally:
        store.close()


def test_a_store_written_by_a_newer_bench_is_refused_in_one_line(
        store_url: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    store = opened(store_url)
    try:
        with store.writing() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        store.close()
    with pytest.raises(HistoryError, match="newer bench .*9999.*upgrade bench"):
        opened(store_url)
    capsys.readouterr()
    assert main(["history", "list", "--store", store_url]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert len(printed.err.strip().splitlines()) == 1
    assert "written by a newer bench" in printed.err


def test_list_filters_prune_and_export(store_url: str, tmp_path: Path) -> None:  # noqa: F811
    store = opened(store_url)
    try:
        for index in range(4):
            record_run(store, history_run(tmp_path / f"r{index}", f"r{index}", T0 + 3600 * index,
                                          config_branch="main" if index % 2 else "topic"))
        assert [r.run_id for r in list_runs(store, Filters(branch="main"))] == ["r3", "r1"]
        assert [r.run_id for r in list_runs(store, Filters(since=T0 + 3600))][-1] == "r1"
        assert len(list_runs(store, Filters(metric="syscall.getppid", runtime="nat*"))) == 4
        assert list_runs(store, Filters(metric="no.such.metric")) == []
        assert [r.run_id for r in list_runs(store, Filters(), limit=2)] == ["r3", "r2"]
        doomed = prune_plan(store, 3, Filters())
        assert [r.run_id for r in doomed] == ["r0"]
        delete_runs(store, [r.run_id for r in doomed])
    finally:
        store.close()
    assert counts(store_url)[:2] == (3, 3 * 31)  # the rows went with their run
