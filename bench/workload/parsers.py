"""Parsers: a standard tool's own output turned into metrics with a unit and a direction.

Each reads what the tool prints for machines where it has such a mode (fio and iperf3
JSON, stress-ng YAML, redis-benchmark CSV) and its stable summary lines otherwise
(sysbench). A parser that cannot read the output raises OutputError with the reason; the
cell then fails with that reason and the output's tail, never with a made-up value.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from bench.results.units import Direction
from bench.workload.spec import Parser, RegexMetric
from foundation.errors import BenchError

PREFIX = "workload."


class OutputError(BenchError):
    """The command's output could not be read as its parser expects."""


@dataclass(frozen=True)
class Metric:
    name: str  # without the workload. prefix
    value: float
    unit: str
    direction: Direction


def _number(pattern: str, text: str, what: str) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise OutputError(f"no {what} in the output")
    return float(match.group(1))


def sysbench_cpu(lines: Sequence[str]) -> list[Metric]:
    text = "\n".join(lines)
    value = _number(r"^\s*events per second:\s*([0-9.]+)\s*$", text, "'events per second' line")
    return [Metric("events_per_s", value, "events/s", "higher")]


def sysbench_memory(lines: Sequence[str]) -> list[Metric]:
    text = "\n".join(lines)
    value = _number(r"MiB transferred \(([0-9.]+) MiB/sec\)", text, "'MiB transferred' line")
    return [Metric("mib_per_s", value, "MiB/s", "higher")]


def json_document(lines: Sequence[str], tool: str) -> Any:
    """The JSON document in the output (tools may print warnings before it)."""
    text = "\n".join(lines)
    start = text.find("{")
    if start < 0:
        raise OutputError(f"no JSON document in {tool}'s output")
    try:
        return json.loads(text[start:])
    except json.JSONDecodeError as error:
        raise OutputError(f"{tool}'s JSON output is malformed ({error.msg} at line "
                          f"{error.lineno})") from None


def fio(lines: Sequence[str]) -> list[Metric]:
    """IOPS and bandwidth summed over the jobs; completion-latency percentiles of the
    slowest job. A direction a job never did (no bytes) gives no metric."""
    jobs = json_document(lines, "fio").get("jobs") or []
    if not jobs:
        raise OutputError("fio's JSON output has no jobs")
    metrics: list[Metric] = []
    for side in ("read", "write"):
        done = [job[side] for job in jobs if job.get(side, {}).get("io_bytes", 0) > 0]
        if not done:
            continue
        metrics.append(Metric(f"{side}_iops", sum(float(d["iops"]) for d in done), "IOPS", "higher"))
        metrics.append(Metric(f"{side}_bw", sum(float(d["bw_bytes"]) for d in done), "B/s", "higher"))
        for label, key in (("p50", "50.000000"), ("p99", "99.000000")):
            found = [d.get("clat_ns", {}).get("percentile", {}).get(key) for d in done]
            if all(value is not None for value in found):
                metrics.append(Metric(f"{side}_clat_{label}", max(map(float, found)), "ns", "lower"))
    if not metrics:
        raise OutputError("fio's jobs moved no bytes")
    return metrics


def stress_ng(lines: Sequence[str]) -> list[Metric]:
    """bogo-ops per second (real time) per stressor, from --yaml output."""
    text = "\n".join(lines)
    start = text.find("---")
    try:
        document = yaml.safe_load(text[start:] if start >= 0 else text)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", error)
        raise OutputError(f"stress-ng's YAML output is malformed: {problem}") from None
    rows = (document or {}).get("metrics") if isinstance(document, dict) else None
    if not rows:
        raise OutputError("no metrics in stress-ng's YAML output (run it with --metrics-brief "
                          "--yaml /proc/self/fd/1)")
    if len(rows) == 1:
        return [Metric("bogo_ops_per_s", float(rows[0]["bogo-ops-per-second-real-time"]),
                       "bogo-ops/s", "higher")]
    return [Metric(f"{metric_key(str(row['stressor']))}_bogo_ops_per_s",
                   float(row["bogo-ops-per-second-real-time"]), "bogo-ops/s", "higher")
            for row in rows]


def iperf3(lines: Sequence[str]) -> list[Metric]:
    """The receiver's bits per second (TCP), or the test's (UDP)."""
    document = json_document(lines, "iperf3")
    if document.get("error"):
        raise OutputError(f"iperf3 reported: {document['error']}")
    end = document.get("end") or {}
    total = end.get("sum_received") or end.get("sum")
    if not total or "bits_per_second" not in total:
        raise OutputError("iperf3's JSON output has no end.sum_received")
    return [Metric("bits_per_s", float(total["bits_per_second"]), "bit/s", "higher")]


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
        try:
            metrics.append(Metric(f"{metric_key(row[0])}_rps", float(row[column]), "req/s", "higher"))
        except (IndexError, ValueError):
            raise OutputError(f"redis-benchmark's CSV row {row!r} has no requests per second") from None
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
        try:
            return Metric(rule.name, float(text), rule.unit, rule.direction)
        except (TypeError, ValueError):
            raise OutputError(f"metric {rule.name}: {text!r} is not a number") from None
    raise OutputError(f"metric {rule.name}: no line of the output matches {rule.regex!r}")


def parse_output(parser: Parser, rules: Sequence[RegexMetric], stdout: Sequence[str],
                 stderr: Sequence[str]) -> list[Metric]:
    """Every metric of the output: the parser's (from stdout), then the declared ones
    (from stdout and stderr)."""
    metrics = PARSERS[parser](stdout)
    metrics += [extract(rule, [*stdout, *stderr]) for rule in rules]
    return metrics
