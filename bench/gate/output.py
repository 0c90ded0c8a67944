"""The gate's verdicts for people and for CI: a terminal table, Markdown, JUnit XML and JSON.

Every format shows the same rows: one per rule and row evaluated, with both medians, the
change and its interval, the p-value (adjusted by Holm's correction for the gate's rows:
the one the verdict compares with alpha; JSON has the row's own too) and the verdict.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bench.gate.aa import CAUGHT, Measurement
from bench.gate.calibration import Calibration, describe_kind
from bench.gate.verdicts import Evaluation, GateResult, exit_code
from bench.results.numbers import (
    format_change,
    format_interval,
    format_p,
    format_percent,
    format_ratio,
    format_ratio_interval,
    format_value,
)
from bench.results.text import markdown_text, visible

COLUMNS = ("metric", "runtime", "workload", "reference", "candidate", "change", "p", "verdict")
STYLES = {"fail": "bold red", "improved": "green", "warn": "yellow", "underpowered": "yellow",
          "skipped": "dim", "pass": ""}
SKIPPED = frozenset({"skipped", "underpowered"})


def interval_percent(result: GateResult) -> str:
    return f"{100 * (1 - 2 * result.alpha):g} %"


def signed(value: float, unit: str) -> str:
    return ("+" if value >= 0 else "-") + format_value(abs(value), unit)


def change_text(item: Evaluation) -> str:
    """The change and its interval, in the rule's terms (relative %, ratio, median bounds)."""
    low, high = item.change_low, item.change_high
    if item.kind == "ratio" and item.change is not None:
        if low is None or high is None:
            return f"{format_ratio(item.change)} [no interval]"
        return format_ratio_interval(item.change, low, high)
    if item.kind == "absolute":
        return "-" if low is None or high is None else \
            f"median in {format_interval(low, high, item.unit)}"
    if item.change is not None and low is not None and high is not None:
        return format_change(item.change, low, high)
    if item.absolute_change is not None and item.absolute_low is not None \
            and item.absolute_high is not None:
        return (f"{signed(item.absolute_change, item.unit)} [{signed(item.absolute_low, item.unit)}"
                f", {signed(item.absolute_high, item.unit)}]")
    return "-"


def reference_text(item: Evaluation) -> str:
    value = format_value(item.reference_median, item.unit)
    if item.kind == "absolute":
        return f"limit {value}"
    return value if item.reference == "baseline" else f"{value} ({item.reference})"


def row(item: Evaluation) -> dict[str, str]:
    shown = item.p_adjusted if item.p_adjusted is not None else item.p_value
    p_value = format_p(shown)
    return {"metric": item.metric, "runtime": item.runtime, "workload": item.workload,
            "reference": reference_text(item),
            "candidate": format_value(item.candidate_median, item.unit), "change": change_text(item),
            "p": p_value, "verdict": item.verdict}


def headline(result: GateResult) -> str:
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(result.counts().items()))
    state = "FAIL" if exit_code(result) else "PASS"
    against = f"{result.baseline} -> " if result.baseline else ""
    return (f"bench gate {state}: {against}{result.candidate} ({counts}; {result.tests} rows "
            f"tested, Holm-corrected at alpha {result.alpha:g})")


def print_table(result: GateResult, console: Console) -> None:
    """The verdicts as a terminal table; names from the results are shown, never obeyed as
    rich markup or control characters."""
    table = Table(title=Text(visible(headline(result))), title_justify="left")
    for column in COLUMNS:
        label = f"change [{interval_percent(result)} interval]" if column == "change" else column
        table.add_column(Text(label), justify="right" if column in {"p"} else "left")
    for item in result.evaluations:  # Text cells: never parsed as markup
        cells = row(item)
        table.add_row(*(Text(visible(cells[c]), style=STYLES.get(item.verdict, "")
                             if c == "verdict" else "") for c in COLUMNS))
    console.print(table)
    for item in result.evaluations:
        if item.verdict not in {"pass", "skipped"}:
            console.print(visible(f"{item.verdict}: {item.rule}: {item.runtime}/{item.workload}/"
                                  f"{item.metric}: {item.message}"), markup=False, highlight=False)
    for note in result.notes:
        console.print(visible(f"note: {note}"), markup=False, highlight=False)


def markdown_cell(text: str) -> str:
    """A cell for a pull-request comment: the text as written, inert (bench.results.text)."""
    return markdown_text(text)


def to_markdown(result: GateResult) -> str:
    header = [c if c != "change" else f"change [{interval_percent(result)} interval]"
              for c in COLUMNS]
    lines = [f"### {markdown_text(headline(result))}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(COLUMNS)]
    for item in result.evaluations:
        cells = {column: markdown_cell(text) for column, text in row(item).items()}
        if item.verdict != "pass":
            cells["verdict"] = f"**{cells['verdict']}**"
        lines.append("| " + " | ".join(cells[c] for c in COLUMNS) + " |")
    details = ["- " + markdown_text(f"{e.verdict}: {e.rule}: {e.runtime}/{e.workload}/{e.metric}: "
                                    f"{e.message}")
               for e in result.evaluations if e.verdict not in {"pass", "skipped"}]
    notes = [f"- {markdown_text(f'note: {note}')}" for note in result.notes]
    return "\n".join(lines + ([""] + details + notes if details or notes else [])) + "\n"


def testcase_name(item: Evaluation) -> str:
    return f"{item.rule} :: {item.runtime}/{item.workload}/{item.metric}"


def describe(item: Evaluation) -> str:
    cells = row(item)
    return (f"{item.message}; reference {cells['reference']}, candidate {cells['candidate']}, "
            f"change {cells['change']}, p {cells['p']}, n {item.n_reference}/{item.n_candidate}")


def to_junit(result: GateResult) -> str:
    """testsuites/testsuite/testcase; failures carry <failure message=...>, skips <skipped>."""
    counts = result.counts()
    totals = {"tests": str(len(result.evaluations)), "failures": str(counts.get("fail", 0)),
              "errors": "0", "skipped": str(sum(counts.get(v, 0) for v in SKIPPED)),
              "time": "0"}
    suites = ET.Element("testsuites", {"name": "bench gate", **totals})
    suite = ET.SubElement(suites, "testsuite", {"name": "bench gate", **totals})
    properties = ET.SubElement(suite, "properties")
    for name, value in (("candidate", result.candidate), ("baseline", result.baseline or ""),
                        ("alpha", f"{result.alpha:g}")):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for item in result.evaluations:
        # visible(): a control character in a name is not allowed in XML 1.0 at all
        case = ET.SubElement(suite, "testcase", {"classname": f"bench.gate.evaluate.{item.kind}",
                                                 "name": visible(testcase_name(item)), "time": "0"})
        message = visible(item.message)
        if item.verdict == "fail":
            failure = ET.SubElement(case, "failure", {"message": message, "type": "regression"})
            failure.text = visible(describe(item))
        elif item.verdict in SKIPPED:
            ET.SubElement(case, "skipped", {"message": message})
        ET.SubElement(case, "system-out").text = visible(f"{item.verdict}: {describe(item)}")
    if result.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(map(visible, result.notes))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def to_json(result: GateResult) -> dict[str, Any]:
    return {"verdict": "fail" if exit_code(result) else "pass", "exit_code": exit_code(result),
            "candidate": result.candidate, "baseline": result.baseline, "alpha": result.alpha,
            "tests": result.tests,
            "interval": 1 - 2 * result.alpha, "counts": result.counts(), "notes": result.notes,
            "evaluations": [{k: finite(v) for k, v in asdict(item).items()}
                            for item in result.evaluations]}


def print_measurement(found: Measurement, console: Console) -> None:
    """`bench calibrate`: per row its spread and smallest change caught, then the A/A tally."""
    table = Table(title=f"gate calibration from {found.calibration.sittings} A/A sittings",
                  title_justify="left")
    for column in ("metric", "runtime", "workload", "sitting spread (SD)",
                   f"smallest change caught ({CAUGHT:.0%} of pairs)"):
        table.add_column(column)
    for key, shift in sorted(found.smallest_caught.items(), key=lambda kv: (kv[0][2], kv[0])):
        spread = found.calibration.sd.get(key)
        cells = [*key[2:], key[0], key[1], "-" if spread is None else format_percent(spread, False),
                 "-" if shift is None else format_percent(shift)]
        table.add_row(*(escape(visible(cell)) for cell in cells))
    console.print(table)
    rate = found.failing_gates / found.pairs if found.pairs else 0.0
    console.print(f"A/A: {found.failing_gates} of {found.pairs} ordered pairs of sittings failed "
                  f"the gate ({format_percent(rate, False)}), each calibrated from the other sittings only; "
                  f"{found.failing_gates_uncalibrated} failed without a calibration.",
                  highlight=False)
    for row, count in found.failing_rows.most_common():
        console.print(visible(f"  failed {count}x: {row}"), markup=False, highlight=False)


def print_calibration(calibration: Calibration, left_out: list[str], console: Console) -> None:
    """`bench calibrate --history`: per row its spread and freedom, the sittings, what was left
    out."""
    table = Table(title=f"gate calibration of host kind {describe_kind(calibration.host)}",
                  title_justify="left")
    for column in ("metric", "runtime", "workload", "sitting spread (SD)", "dof"):
        table.add_column(column)
    for key in sorted(calibration.sd, key=lambda k: (k[2], k)):
        spread = calibration.of(key)
        cells = [key[2], key[0], key[1], format_percent(calibration.sd[key], False),
                 "-" if spread is None else str(spread.dof)]
        table.add_row(*(escape(visible(cell)) for cell in cells))
    console.print(table)
    console.print(visible(f"sittings: {calibration.source}"), markup=False, highlight=False)
    for line in left_out:
        console.print(visible(f"  left out {line}"), markup=False, highlight=False)
