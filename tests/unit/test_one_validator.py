"""One validator at both ends (issue 20, point 1): the store checks every sample it writes by
the rules every reader checks, so bench never writes what its readers refuse, and a value
that breaks them fails its cell with the reason while the run goes on.

Properties (Hypothesis): whatever samples the store is given, every line it writes is read
back as data (no invalid line); any samples file and any manifest the reader accepts
round-trips through the writer unchanged; and the fast column checks find every record the
one-record rules refuse.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.config import parse_config
from bench.drivers import DriverRegistry
from bench.plan import make_plan
from bench.results.documents import MANIFEST, SAMPLES
from bench.results.manifest import Manifest, RunConfig, read_manifest
from bench.results.manifest_versions import FORMAT_VERSION, update_to_2
from bench.results.records import read_lines, sample_slices
from bench.results.run import load_run
from bench.results.sample import Sample
from bench.results.summary import summary_rows
from bench.results.units import SIGNS, known_unit
from bench.results.validate import FIELDS, record_problem, sample_problems
from bench.results.writer import RunWriter, write_manifest
from bench.runner import Runner
from bench.workload.bundle import Bundle
from tests.unit.fake_driver import FakeDriver

FUZZ = settings(max_examples=150, deadline=10_000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


REGISTRY = DriverRegistry({"fake": FakeDriver})  # beside the installed drivers


@pytest.mark.parametrize(("pss", "message"), [
    (-4096, "memory.host_pss cannot be negative (got -4096)"),
    (2**70, "memory.host_pss must be a finite number of magnitude under 2**63"),
])
def test_a_refused_value_fails_its_cell_and_the_run_goes_on(tmp_path: Path, pss: int,
                                                             message: str) -> None:
    config = parse_config({"repetitions": 2, "baseline": "process", "warmup": 0, "settle": 0,
                           "cell_timeout": 2,
                           "runtimes": {"process": {"driver": "fake"},
                                        "odd": {"driver": "fake", "options": {"pss": pss}}},
                           "workloads": {"idle": {"mode": "ready"}, "sys": {"mode": "syscall"}}},
                          registry=REGISTRY)
    store = RunWriter.create(tmp_path / "r", Manifest(config=RunConfig(config.model_dump(mode="json"))))
    errors: dict[str, str | None] = {}
    failed = Runner(config, store, Bundle(tmp_path / "probe", "0"), "abc", tmp_path,
                    registry=REGISTRY).run(
        make_plan(config), lambda cell, error: errors.__setitem__(cell.key, error), lambda n: None)
    store.close()
    path = tmp_path / "r"
    assert failed == 2 and read_manifest(path).status == "complete"
    assert {key for key, error in errors.items() if error} == {"odd/idle/0", "odd/idle/1"}
    assert all(message in (errors[key] or "") for key in ("odd/idle/0", "odd/idle/1"))
    cells = {c["key"]: c for c in read_lines(path, "cells.jsonl")}
    assert cells["odd/idle/0"]["status"] == "failed" and message in cells["odd/idle/0"]["reason"]
    run = load_run(path)  # every reader reads it: nothing was written that they refuse
    assert run.invalid == []
    rows = {(r["runtime"], r["workload"], r["metric"]): r for r in summary_rows(run)}
    assert rows[("odd", "idle", "memory.host_pss")]["failed"] == 2
    assert rows[("odd", "idle", "boot.total")]["n"] == 2  # what held in the cell is kept
    assert rows[("odd", "sys", "syscall.getppid")]["n"] == 2  # and the next cells ran


def test_the_default_unit_of_a_workload_metric_is_refused_not_a_crash(tmp_path: Path) -> None:
    store = RunWriter.create(tmp_path / "r", Manifest(run_id="x"))
    refused = store.append([Sample("p", "w", "workload.took", 1.5, 0, cell=0),
                            Sample("p", "w", "workload.rate", 3.0, 0, unit="bogo-ops/s", cell=0)])
    store.close()
    assert refused == ["invalid value, not recorded: unit of workload.took must be a known unit "
                       "(docs/results-validation.md) (got '')"]
    [took, rate] = read_lines(tmp_path / "r", SAMPLES)
    assert (took["metric"], took["status"]) == ("cell", "failed")  # no unit to keep it under
    assert (rate["unit"], rate["status"]) == ("bogo-ops/s", "ok")


def test_the_sign_table_names_known_metrics() -> None:
    assert set(SIGNS.values()) <= {"signed", "positive"}
    assert SIGNS["memory.overhead"] == "signed"
    assert all(known_unit(unit) for unit in ("bogo-ops/s", "events/s", "MiB/s", "IOPS", "B/s",
                                             "bit/s", "req/s", "ops/s", "ns", "count"))
    assert not any(known_unit(unit) for unit in ("", "furlongs", "a b/s", "x" * 40 + "/s"))


# --- properties --------------------------------------------------------------------------

NAMES = st.one_of(st.sampled_from(["process", "native", "idle", "sys", "docker-runsc"]),
                  st.text(min_size=0, max_size=6))
METRICS = st.one_of(st.sampled_from(["boot.total", "memory.host_pss", "memory.overhead",
                                     "syscall.getppid", "syscall.clock_gettime", "cell",
                                     "workload.events_per_s", "workload.duration", "stop.total",
                                     "density.mem_available_per_instance", "boot.exec"]),
                    st.text(max_size=8))
UNITS = st.one_of(st.sampled_from(["ms", "ns", "bytes", "s", "cell", "bogo-ops/s", "events/s",
                                   "count", "", "furlongs"]), st.text(max_size=4))
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(min_value=-2**70, max_value=2**70),
                    st.sampled_from([0, -0.0, 1.5, -1.6, 2.0**63, -(2.0**63), 1e300]))
JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**64, 2**64),
                                 st.floats(allow_nan=False, allow_infinity=False),
                                 st.text(max_size=5)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(st.text(max_size=4), inner,
                                                               max_size=3)),
                       max_leaves=8)


@st.composite
def samples(draw: st.DrawFn) -> Sample:
    status = draw(st.sampled_from(["ok", "failed"]))
    return Sample(runtime=draw(NAMES), workload=draw(NAMES), metric=draw(METRICS),
                  value=draw(st.one_of(st.none(), NUMBERS)), repetition=draw(st.integers(-3, 3)),
                  unit=draw(UNITS), phase=draw(st.one_of(st.none(), NAMES)),
                  status=status, reason=draw(st.one_of(st.none(), st.text(max_size=8))),
                  cell=draw(st.integers(-2, 3)),
                  metadata=draw(st.dictionaries(st.text(max_size=4), JSONISH, max_size=2)),
                  direction=draw(st.sampled_from(["", "lower", "higher", "sideways"])))


@FUZZ
@given(batch=st.lists(samples(), min_size=1, max_size=8))
def test_the_store_never_writes_what_a_reader_refuses(tmp_path_factory: pytest.TempPathFactory,
                                                      batch: list[Sample]) -> None:
    path = tmp_path_factory.mktemp("w") / "r"
    store = RunWriter.create(path, Manifest(run_id="x"))
    refused = store.append(batch)
    store.close()
    read = [part for part in sample_slices(path)]
    assert [line for part in read for line in part.invalid] == []
    records = [record for part in read for record in part.records]
    assert len(records) == len(batch)
    turned = [r for r in records if r["status"] == "failed" and r["reason"] in refused]
    broken = [s for s in batch if record_problem(s.to_dict()) is not None]
    assert len(broken) <= len(turned) <= len(refused)  # each refused sample says why
    for record, sample in zip(records, batch, strict=True):
        if record not in turned:
            assert record == sample.to_dict()  # the others are written as given


def normal(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the writer writes it back: every field, the defaults filled in."""
    sample = Sample(**{"phase": None, "reason": None, "metadata": {}, "direction": "",
                       "value": None, **record})
    return sample.to_dict()


RECORDS = st.fixed_dictionaries(
    {"runtime": NAMES, "workload": NAMES, "metric": METRICS, "unit": UNITS, "cell": st.integers(-2, 3),
     "repetition": st.integers(-3, 3), "status": st.sampled_from(["ok", "failed", "maybe"])},
    optional={"value": st.one_of(st.none(), NUMBERS, st.booleans(), st.text(max_size=3)),
              "phase": st.one_of(st.none(), NAMES), "reason": st.one_of(st.none(), st.text(max_size=5)),
              "metadata": st.one_of(st.none(), st.dictionaries(st.text(max_size=3), JSONISH, max_size=2),
                                    st.lists(st.integers(), max_size=1)),
              "direction": st.sampled_from(["lower", "higher", "up"])})


def jsonl(records: list[dict[str, Any]]) -> bytes:
    """Lines as a hand or another tool may write them: Python's json, NaN and all."""
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@FUZZ
@given(records=st.lists(RECORDS, min_size=1, max_size=8))
def test_what_the_reader_accepts_round_trips_through_the_writer(
        tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]]) -> None:
    folder = tmp_path_factory.mktemp("rt")
    first = folder / "first"
    RunWriter.create(first, Manifest(run_id="x")).close()
    (first / SAMPLES).write_bytes(jsonl(records))
    parts = list(sample_slices(first))
    invalid = {int(line.split(" line ", 1)[1].split(":", 1)[0]) - 1
               for part in parts for line in part.invalid}
    read = [record for part in parts for record in part.records]
    accepted = [record for index, record in enumerate(read) if index not in invalid]
    assert invalid == {i for i, r in enumerate(records) if json_problem(r) is not None}
    second = folder / "second"
    store = RunWriter.create(second, Manifest(run_id="x"))
    assert store.append([Sample(**normal(record)) for record in accepted]) == []
    store.close()
    again = [record for part in sample_slices(second) for record in part.records]
    assert again == [normal(record) for record in accepted]


def json_problem(record: dict[str, Any]) -> str | None:
    """The one-record rules, applied to the record as its JSON line reads back (Python's json
    writes NaN and Infinity, which no JSON reader takes: that line is refused whole)."""
    text = json.dumps(record)
    if any(token in text for token in ("NaN", "Infinity")):
        return "not a JSON line"
    return record_problem(json.loads(text))


@FUZZ
@given(records=st.lists(st.one_of(RECORDS, st.just([1]), st.none(),
                                  RECORDS.map(lambda r: {**r, "extra": 1})), max_size=10))
def test_the_column_checks_find_every_record_the_rules_refuse(records: list[Any]) -> None:
    found = sample_problems(records)
    assert found == {i: p for i, r in enumerate(records) if (p := record_problem(r)) is not None}


MANIFESTS = st.fixed_dictionaries(
    {"format": st.just("bench-results"), "format_version": st.sampled_from([1, FORMAT_VERSION])},
    optional={"run_id": st.text(max_size=6), "created": st.floats(0, 2e9),
              "config": st.dictionaries(st.sampled_from(["description", "warmup", "x"]),
                                        JSONISH, max_size=2),
              "host": st.dictionaries(st.text(max_size=4), JSONISH, max_size=3),
              "status": st.sampled_from(["running", "complete"]), "other": JSONISH})


@FUZZ
@given(manifest=MANIFESTS)
def test_a_manifest_the_reader_accepts_round_trips_through_the_writer(
        tmp_path_factory: pytest.TempPathFactory, manifest: dict[str, Any]) -> None:
    folder = tmp_path_factory.mktemp("m")
    (folder / MANIFEST).write_text(json.dumps(manifest))
    try:
        accepted = read_manifest(folder)
    except Exception:  # noqa: BLE001 (refused: nothing to round-trip)
        return
    write_manifest(folder, accepted)
    assert read_manifest(folder) == accepted
    # what the writer wrote is the document it read (a version-1 one upgraded), every field
    # as it was; it only adds the fields every manifest has (empty host, kind...)
    written = json.loads((folder / MANIFEST).read_text())
    expected = manifest if manifest["format_version"] == FORMAT_VERSION else update_to_2(manifest)
    assert {key: value for key, value in written.items() if key in expected} == expected


def test_a_manifest_with_an_overflowing_number_is_refused(tmp_path: Path) -> None:
    """1e400 is JSON that Python reads as infinity: the writer could not write it back."""
    (tmp_path / MANIFEST).write_text('{"format": "bench-results", "format_version": 1, '
                                     '"host": {"x": 1e400}}')
    with pytest.raises(Exception, match="not a finite number"):
        read_manifest(tmp_path)
    assert math.isinf(json.loads("1e400"))


def test_every_field_of_a_sample_is_a_field_the_rules_know() -> None:
    assert set(Sample("r", "w", "boot.total", 1.0, 0).to_dict()) == FIELDS
