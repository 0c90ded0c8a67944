"""Parsers: a standard tool's own output turned into metrics with a unit and a direction.

Each reads what the tool prints for machines where it has such a mode (fio and iperf3
JSON, stress-ng YAML, redis-benchmark CSV) and its stable summary lines otherwise
(sysbench). The output is the user's program's and may hold anything: whatever a parser
cannot read (a field of the wrong type, `1.2.3`, a 400-digit number, NaN, `.inf`, a missing
key, a JSON nesting 100,000 deep) is an OutputError with the reason, and every value it does
read is checked by the rules every sample is checked by (bench.results.validate). The cell
then fails with that reason and the output's tail, never with a made-up value, and the run
goes on to the next cell.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.results.units import Direction
from bench.results.validate import key_problem, value_problem
from bench.workload.spec import Parser, RegexMetric
from foundation.errors import BenchError
from foundation.yaml_input import load_yaml

PREFIX = "workload."
# a decimal number as the tools print one: no NaN, no inf, no hex, no 1.2.3
DECIMAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
MAX_DIGITS = 40  # a count or rate that needs more is not one
# what a parser may raise on output it does not expect: each is that output's fault
UNREADABLE = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
              RecursionError, UnicodeError, csv.Error)


class OutputError(BenchError):
    """The command's output could not be read as its parser expects."""


@dataclass(frozen=True)
class Metric:
    name: str  # without the workload. prefix
    value: float
    unit: str
    direction: Direction


def number(value: Any, what: str) -> float:
    """A value the tool printed, as a finite float: a JSON or YAML number (not a boolean) or a
    decimal string; anything else is an OutputError naming `what`."""
    if type(value) in (int, float):
        try:
            found = float(value)
        except OverflowError:
            raise OutputError(f"{what} is too large ({str(value)[:20]}...)") from None
    elif isinstance(value, str) and len(value.strip()) <= MAX_DIGITS and \
            DECIMAL.fullmatch(value.strip()):
        found = float(value.strip())
    else:
        raise OutputError(f"{what} is not a number (got {repr(value)[:40]})")
    if not math.isfinite(found):
        raise OutputError(f"{what} is not a finite number (got {repr(value)[:40]})")
    return found


def mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OutputError(f"{what} is not an object (got {type(value).__name__})")
    return value


def listing(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise OutputError(f"{what} is not a list (got {type(value).__name__})")
    return value


def _number(pattern: str, text: str, what: str) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise OutputError(f"no {what} in the output")
    return number(match.group(1), what)


def sysbench_cpu(lines: Sequence[str]) -> list[Metric]:
    text = "\n".join(lines)
    value = _number(r"^\s*events per second:\s*(\S+)\s*$", text, "'events per second' line")
    return [Metric("events_per_s", value, "events/s", "higher")]


def sysbench_memory(lines: Sequence[str]) -> list[Metric]:
    text = "\n".join(lines)
    value = _number(r"MiB transferred \((\S+) MiB/sec\)", text, "'MiB transferred' line")
    return [Metric("mib_per_s", value, "MiB/s", "higher")]


def refuse_constant(name: str) -> Any:
    raise OutputError(f"{name} is not a number JSON allows")


def json_document(lines: Sequence[str], tool: str) -> dict[str, Any]:
    """The JSON object in the output (tools may print warnings before it)."""
    text = "\n".join(lines)
    start = text.find("{")
    if start < 0:
        raise OutputError(f"no JSON document in {tool}'s output")
    try:
        document = json.loads(text[start:], parse_constant=refuse_constant)
    except json.JSONDecodeError as error:
        raise OutputError(f"{tool}'s JSON output is malformed ({error.msg} at line "
                          f"{error.lineno})") from None
    except RecursionError:
        raise OutputError(f"{tool}'s JSON output nests too deeply") from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise OutputError(f"{tool}'s JSON output is malformed ({str(error)[:80]})") from None
    return mapping(document, f"{tool}'s JSON output")


def fio(lines: Sequence[str]) -> list[Metric]:
    """IOPS and bandwidth summed over the jobs; completion-latency percentiles of the
    slowest job. A direction a job never did (no bytes) gives no metric."""
    jobs = [mapping(job, "a fio job") for job in
            listing(json_document(lines, "fio").get("jobs") or [], "fio's jobs")]
    if not jobs:
        raise OutputError("fio's JSON output has no jobs")
    metrics: list[Metric] = []
    for side in ("read", "write"):
        sides = [mapping(job.get(side, {}), f"fio's {side}") for job in jobs]
        done = [d for d in sides if number(d.get("io_bytes", 0), f"fio's {side}.io_bytes") > 0]
        if not done:
            continue
        metrics.append(Metric(f"{side}_iops", sum(number(d.get("iops"), f"fio's {side}.iops")
                                                  for d in done), "IOPS", "higher"))
        metrics.append(Metric(f"{side}_bw", sum(number(d.get("bw_bytes"), f"fio's {side}.bw_bytes")
                                                for d in done), "B/s", "higher"))
        metrics += fio_percentiles(side, done)
    if not metrics:
        raise OutputError("fio's jobs moved no bytes")
    return metrics


def fio_percentiles(side: str, done: list[dict[str, Any]]) -> list[Metric]:
    found = []
    for label, key in (("p50", "50.000000"), ("p99", "99.000000")):
        values = [mapping(mapping(d.get("clat_ns", {}), f"fio's {side}.clat_ns")
                          .get("percentile", {}), f"fio's {side} percentiles").get(key)
                  for d in done]
        if all(value is not None for value in values):
            found.append(Metric(f"{side}_clat_{label}",
                                max(number(v, f"fio's {side} clat {label}") for v in values),
                                "ns", "lower"))
    return found


def stress_ng(lines: Sequence[str]) -> list[Metric]:
    """bogo-ops per second (real time) per stressor, from --yaml output."""
    text = "\n".join(lines)
    start = text.find("---")
    try:  # bounded: no alias bomb, no nesting past 32, no key written twice
        document = load_yaml(text[start:] if start >= 0 else text)
    except ValueError as error:
        raise OutputError(f"stress-ng's YAML output is malformed: {error}") from None
    rows = (document or {}).get("metrics") if isinstance(document, dict) else None
    if not rows:
        raise OutputError("no metrics in stress-ng's YAML output (run it with --metrics-brief "
                          "--yaml /proc/self/fd/1)")
    rows = [mapping(row, "a stress-ng metrics row") for row in listing(rows, "stress-ng's metrics")]
    per_second = [number(row.get("bogo-ops-per-second-real-time"),
                         "stress-ng's bogo-ops-per-second-real-time") for row in rows]
    if len(rows) == 1:
        return [Metric("bogo_ops_per_s", per_second[0], "bogo-ops/s", "higher")]
    return [Metric(f"{metric_key(str(row.get('stressor')))}_bogo_ops_per_s", value, "bogo-ops/s",
                   "higher") for row, value in zip(rows, per_second, strict=True)]


def iperf3(lines: Sequence[str]) -> list[Metric]:
    """The receiver's bits per second (TCP), or the test's (UDP)."""
    document = json_document(lines, "iperf3")
    if document.get("error"):
        raise OutputError(f"iperf3 reported: {str(document['error'])[:200]}")
    end = mapping(document.get("end") or {}, "iperf3's end")
    total = end.get("sum_received") or end.get("sum")
    if not isinstance(total, dict) or "bits_per_second" not in total:
        raise OutputError("iperf3's JSON output has no end.sum_received")
    return [Metric("bits_per_s", number(total["bits_per_second"], "iperf3's bits_per_second"),
                   "bit/s", "higher")]


def metric_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def redis_benchmark(lines: Sequence[str]) -> list[Metric]:
    """Requests per second per command from --csv (with or without its header row)."""
    rows = [row for row in csv.reader(line for line in lines if line.startswith('"')) if row]
    column = 1
    if rows and rows[0][0] == "test":
        column = rows[0].index("rps") if "rps" in rows[0] else 1
        rows = rows[1:]
    metrics = []
    for row in rows:
        if len(row) <= column:
            raise OutputError(f"redis-benchmark's CSV row {row!r:.80} has no requests per second")
        metrics.append(Metric(f"{metric_key(row[0])}_rps",
                              number(row[column], f"redis-benchmark's rps of {row[0]!r:.40}"),
                              "req/s", "higher"))
    if not metrics:
        raise OutputError("no CSV rows in redis-benchmark's output (run it with --csv)")
    return metrics


PARSERS: dict[Parser, Callable[[Sequence[str]], list[Metric]]] = {
    "duration": lambda lines: [], "sysbench-cpu": sysbench_cpu, "sysbench-memory": sysbench_memory,
    "fio": fio, "stress-ng": stress_ng, "iperf3": iperf3, "redis-benchmark": redis_benchmark,
}
# the metric a parser always gives: the one a failed parse or command is recorded against
PRIMARY: dict[Parser, tuple[str, str, Direction]] = {
    "duration": ("duration", "s", "lower"), "sysbench-cpu": ("events_per_s", "events/s", "higher"),
    "sysbench-memory": ("mib_per_s", "MiB/s", "higher"), "fio": ("read_iops", "IOPS", "higher"),
    "stress-ng": ("bogo_ops_per_s", "bogo-ops/s", "higher"),
    "iperf3": ("bits_per_s", "bit/s", "higher"), "redis-benchmark": ("rps", "req/s", "higher"),
}


def extract(rule: RegexMetric, lines: Sequence[str]) -> Metric:
    """A declared metric: the first match of its regex in the output."""
    pattern = re.compile(rule.regex)
    for line in lines:
        match = pattern.search(line)
        if match is None:
            continue
        text = match.groupdict().get("value") or match.group(1)
        return Metric(rule.name, number(text, f"metric {rule.name}"), rule.unit, rule.direction)
    raise OutputError(f"metric {rule.name}: no line of the output matches {rule.regex!r}")


def parse_output(parser: Parser, rules: Sequence[RegexMetric], stdout: Sequence[str],
                 stderr: Sequence[str]) -> list[Metric]:
    """Every metric of the output: the parser's (from stdout), then the declared ones
    (from stdout and stderr). OutputError for output that cannot be read, and for a metric
    that breaks a rule of bench.results.validate (a negative rate, a name too long)."""
    try:
        metrics = PARSERS[parser](stdout)
        metrics += [extract(rule, [*stdout, *stderr]) for rule in rules]
    except UNREADABLE as error:  # output no parser foresaw: that cell's failure, not the run's
        raise OutputError(f"{parser} output not understood ({type(error).__name__}: "
                          f"{str(error)[:200]})") from None
    for metric in metrics:
        name = PREFIX + metric.name
        problem = key_problem("-", "-", name, metric.unit, None, "ok", metric.direction) or \
            value_problem(name, metric.value)
        if problem:
            raise OutputError(problem)
    return metrics
