"""Property: no results directory, however corrupt, makes a reader crash or print non-JSON;
each is read, or refused in one line with exit 2. Names that are valid but hostile (rich
markup, HTML, Markdown) are shown as written, never obeyed.

Deterministic (derandomized) and bounded (a deadline per example). The directories start
from one a run would write (through RunWriter) and are then broken one way each: bytes that
are not UTF-8, lines that are not objects, fields of the wrong type, values that are not
data (negative, Infinity, NaN, booleans, strings, huge), a line written twice, a directory
where a file belongs, a manifest whose format version is not a positive integer.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import terminal
from bench.cli import main
from bench.results.documents import CELLS, MANIFEST, SAMPLES
from bench.results.manifest_versions import FORMAT_VERSION
from bench.results.resume import finished_cells
from bench.results.run import load_run
from bench.results.summary import summary_rows
from foundation.errors import ConfigError, ResultsError
from tests.report_fixtures import write_run

CONFIG = {"runtimes": {"process": {"driver": "process"}, "native": {"driver": "native"}},
          "workloads": {"idle": {"mode": "ready"}, "sys": {"mode": "syscall"}}}
FUZZ = settings(max_examples=120, deadline=5000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FIELDS = ["runtime", "workload", "metric", "unit", "value", "repetition", "phase", "status",
          "reason", "cell", "metadata"]
HOSTILE_VALUES = st.one_of(
    st.sampled_from([-1, -0.5, True, False, None, "1.5", "", [], {}, [1], 2**70, -2**70, 1e300,
                     "Infinity", "NaN"]),
    st.text(max_size=8), st.floats(allow_nan=True, allow_infinity=True))
RAW_TOKENS = ["Infinity", "-Infinity", "NaN", "1e999", "-1e999"]  # not JSON, yet json reads them
counter = itertools.count()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("template") / "run")


def fresh(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / f"run{next(counter)}"
    shutil.copytree(template, target)
    return target


def lines_of(path: Path, name: str) -> list[bytes]:
    return (path / name).read_bytes().splitlines()


def set_lines(path: Path, name: str, lines: list[bytes]) -> None:
    (path / name).write_bytes(b"\n".join(lines) + b"\n")


@st.composite
def corruption(draw: st.DrawFn) -> tuple[str, Any]:
    """One way to break a results directory, as (kind, details)."""
    kind = draw(st.sampled_from(["bytes", "not_object", "field", "raw_token", "duplicate",
                                 "directory", "version", "manifest_field", "cells_field"]))
    if kind == "bytes":
        return kind, (draw(st.integers(0, 20)), draw(st.binary(min_size=1, max_size=12)))
    if kind == "not_object":
        return kind, (draw(st.integers(0, 20)), draw(st.sampled_from(
            ["1", "[1, 2]", '"x"', "null", "true", "[]", "-5"])))
    if kind in ("field", "cells_field"):
        return kind, (draw(st.integers(0, 20)), draw(st.sampled_from(FIELDS)),
                      draw(HOSTILE_VALUES))
    if kind == "raw_token":
        return kind, (draw(st.integers(0, 20)), draw(st.sampled_from(RAW_TOKENS)))
    if kind == "duplicate":
        return kind, draw(st.integers(0, 20))
    if kind == "directory":
        return kind, draw(st.sampled_from([SAMPLES, CELLS, MANIFEST]))
    if kind == "version":
        return kind, draw(st.sampled_from([0, -1, True, 1.5, "1", None, 2**70, [], {}]))
    return kind, (draw(st.sampled_from(["config", "host", "drivers", "run_id", "status",
                                        "created", "resumed"])),
                  draw(st.sampled_from([[], "x", 5, True, None, {"a": 1}])))


def apply(path: Path, kind: str, details: Any) -> None:
    if kind == "directory":
        target = path / details
        target.unlink()
        target.mkdir()
        return
    if kind in ("version", "manifest_field"):
        manifest = json.loads((path / MANIFEST).read_text())
        key, value = ("format_version", details) if kind == "version" else details
        manifest[key] = value
        (path / MANIFEST).write_text(json.dumps(manifest))
        return
    name = CELLS if kind == "cells_field" else SAMPLES
    lines = lines_of(path, name)
    if kind == "duplicate":
        index = details % len(lines)
        lines.insert(index, lines[index])
    else:
        index = details[0] % len(lines)
        if kind == "bytes":
            lines[index] = lines[index][:5] + details[1] + b"\xff" + lines[index][5:]
        elif kind == "not_object":
            lines[index] = details[1].encode()
        elif kind == "raw_token":
            record = json.loads(lines[index])
            record["value"] = "@@"
            lines[index] = json.dumps(record).replace('"@@"', details[1]).encode()
        else:
            record = json.loads(lines[index])
            record[details[1]] = details[2]
            lines[index] = json.dumps(record).encode()
    set_lines(path, name, lines)


def strict_json(text: str) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"{token} is not JSON")
    return json.loads(text, parse_constant=refuse)


def one_line_or_json(code: int, out: str, err: str) -> None:
    assert code in (0, 2), (code, err)
    if code == 2:
        assert err.startswith("bench: ") and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err and err.strip().isprintable()
    else:
        rows = strict_json(out)
        assert isinstance(rows, list)


@FUZZ
@given(broken=corruption())
def test_no_corrupt_results_directory_crashes_a_reader(template: Path, tmp_path: Path,
                                                       broken: tuple[str, Any],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = fresh(template, tmp_path)
    apply(path, *broken)
    code = main(["summary", str(path), "--json"])
    captured = capsys.readouterr()
    one_line_or_json(code, captured.out, captured.err)
    try:
        load_run(path)  # the report's reader agrees with the summary's
        grouped = True
    except ResultsError as error:
        assert "\n" not in str(error)
        grouped = False
    if broken[0] not in ("cells_field",) and not (broken[0] == "directory" and broken[1] == CELLS):
        assert grouped == (code == 0), broken
    try:
        finished_cells(path, json.loads(json.dumps(CONFIG)))
    except (ResultsError, ConfigError) as error:
        assert "\n" not in str(error)


@pytest.mark.parametrize(("kind", "details", "message"), [
    ("directory", SAMPLES, "a directory where a regular file belongs"),
    ("directory", MANIFEST, "a directory where a regular file belongs"),
    ("version", 0, "format_version must be a positive integer"),
    ("version", True, "format_version must be a positive integer"),
    ("version", FORMAT_VERSION + 1, "newer than this bench reads"),
    ("manifest_field", ("config", []), "config has the wrong type"),
    ("manifest_field", ("host", json.loads("[" * 100 + "]" * 100)), "nested deeper than 64"),
])
def test_a_directory_that_cannot_be_read_is_one_line(template: Path, tmp_path: Path, kind: str,
                                                     details: Any, message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = fresh(template, tmp_path)
    apply(path, kind, details)
    assert main(["summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(("kind", "details", "message"), [
    ("raw_token", (0, "Infinity"), "line 1: not a JSON line"),
    ("raw_token", (2, "NaN"), "line 3: not a JSON line"),
    ("raw_token", (1, "1e999"), "line 2: not a JSON line"),
    ("field", (1, "value", -3.0), "line 2: memory.host_pss cannot be negative"),
    ("field", (2, "value", -1.6), "line 3: syscall.getppid cannot be negative"),
    ("field", (0, "value", 0), "line 1: boot.total must be positive"),
    ("field", (0, "value", True), "line 1: boot.total must be a number"),
    ("field", (0, "value", 1e300), "magnitude under 2\\*\\*63"),
    ("field", (0, "value", 2**70), "magnitude under 2\\*\\*63"),
    ("field", (0, "value", "12"), "line 1: boot.total must be a number"),
    ("field", (1, "unit", "furlongs"), "line 2: unit of memory.host_pss must be 'bytes'"),
    ("field", (0, "runtime", 5), "line 1: runtime must be a printable name"),
    ("field", (0, "runtime", "a\x1bb"), "line 1: runtime must be a printable name"),
    ("field", (0, "cell", "3"), "line 1: cell must be an integer from -1"),
    ("field", (0, "status", "maybe"), "line 1: status must be ok or failed"),
    ("field", (0, "direction", "sideways"), "line 1: direction must be lower or higher"),
    ("field", (0, "colour", "red"), "line 1: unknown field 'colour'"),
    ("field", (0, "metadata", [1]), "line 1: metadata must be an object"),
    ("duplicate", 3, "line 5: repeats line 4"),
    ("bytes", (4, b"\x80"), "line 5: not UTF-8"),
    ("not_object", (0, "[1, 2]"), "line 1: not a JSON object"),
])
def test_a_bad_line_is_one_failed_row(template: Path, tmp_path: Path, kind: str, details: Any,
                                      message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """One bad line costs nothing else: every reader reads the directory, the line is a
    failed sample of its row (or of an `(unreadable)` row) with its reason, and the summary
    says which line and why on stderr, in one line."""
    good = summary_by_key(template)
    path = fresh(template, tmp_path)
    apply(path, kind, details)
    assert main(["summary", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    rows = {(r["runtime"], r["workload"], r["metric"]): r for r in strict_json(captured.out)}
    assert re.search(message, captured.err) and len(captured.err.strip().splitlines()) == 1, \
        captured.err
    assert "1 line(s) broke bench's rules" in captured.err
    assert sum(r["failed"] for r in rows.values()) == sum(r["failed"] for r in good.values()) + 1
    figures = ("n", "samples", "median", "failed")
    changed = [key for key, row in good.items()  # the other lines are read as before
               if key[2] != "memory.overhead"  # derived from memory.host_pss
               and (key not in rows or [rows[key][f] for f in figures] != [row[f] for f in figures])]
    assert len(changed) <= 1, changed
    run = load_run(path)
    reasons = [r["reason"] for r in run.records if r["status"] == "failed"]
    assert any(re.search(message.split(": ", 1)[-1], str(r)) for r in reasons), reasons
    assert main(["report", str(path)]) == 0
    assert main(["gate", "--baseline", str(template), "--candidate", str(path),
                 "--allow-host-change", "--uncalibrated"]) in (0, 1)
    capsys.readouterr()


def summary_by_key(path: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["runtime"], r["workload"], r["metric"]): r
            for r in json.loads(json.dumps(summary_rows(load_run(path))))}


def test_a_duplicated_line_is_never_counted_twice(template: Path, tmp_path: Path) -> None:
    path = fresh(template, tmp_path)
    apply(path, "duplicate", 0)
    run = load_run(path)
    first = json.loads(lines_of(path, SAMPLES)[0])
    series = run.series[(first["runtime"], first["workload"], first["metric"])]
    original = load_run(template).series[(first["runtime"], first["workload"], first["metric"])]
    assert np.array_equal(series.values, original.values)  # counted once
    assert series.failed == original.failed + 1
    assert run.invalid == [f"{SAMPLES} line 2: repeats line 1: a sample recorded twice would "
                           "count twice"]


MARKUP_NAMES = st.sampled_from(["[/]", "[bold red]x[/]", "<img src=x onerror=alert(1)>", "<!--",
                                "![t](http://example.invalid/p.png)", "@everyone", "a|b", "*x*",
                                "[link](javascript:alert(1))", "`code`", "_x_", "#1", "&amp;"])


@settings(max_examples=6, deadline=10000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(name=MARKUP_NAMES, other=MARKUP_NAMES)
def test_hostile_names_are_shown_never_obeyed(tmp_path: Path, name: str, other: str,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Names a hand-made results file may hold: summary and gate print them as written; the
    gate's Markdown (a pull-request comment) renders them as text, nothing else. The
    terminal is wide enough that no name is cut short (an ellipsis would hide whether it
    was shown as written)."""
    monkeypatch.setattr(terminal.out, "width", 300)
    base = write_run(tmp_path / f"base{next(counter)}", ("process", name), workload=other)
    candidate = write_run(tmp_path / f"cand{next(counter)}", ("process", name), workload=other)
    assert main(["summary", str(base)]) == 0
    shown = capsys.readouterr().out
    assert name in shown and "…" not in shown, shown
    markdown = tmp_path / "gate.md"
    code = main(["gate", "--baseline", str(base), "--candidate", str(candidate),
                 "--allow-host-change", "--uncalibrated", "--markdown", str(markdown)])
    capsys.readouterr()
    assert code == 0  # the two runs hold the same numbers: nothing to fail
    text = markdown.read_text()
    for raw in ("<img", "<!--", "](", "[/]", "`", "@everyone", "*x*", "_x_"):
        if raw in name or raw in other:
            assert raw not in text, (raw, text)
    # shown: a row of the table reads, once its character references are resolved, as written
    cells = [[html.unescape(cell) for cell in line.strip("| ").split(" | ")]
             for line in text.splitlines() if line.startswith("| ")]
    assert [name, other] in [row[1:3] for row in cells], text
