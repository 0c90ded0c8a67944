"""Malformed tool output fails one cell with the reason, never the run (issue 20, point 2).

The 17 hostile outputs of the issue (sysbench `events per second: 1.2.3` or a 400-digit
number, fio `NaN`, `1e999`, `"jobs":[1]`, redis-benchmark `nan`, stress-ng `.inf` or a
missing key, iperf3 `"abc"`, ...) and more of the same kinds: each is an OutputError naming
what was wrong (so command_samples records a failed cell with it), never another exception,
and never a value the results would refuse. A property test then feeds any byte string to
every parser.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.results.validate import record_problem
from bench.workload.parsers import PARSERS, PREFIX, OutputError, parse_output
from bench.workload.spec import RegexMetric

FIXTURES = Path(__file__).parents[1] / "fixtures" / "workload_output"
DIGITS = "9" * 400


def fio_job(read: object) -> str:
    return json.dumps({"fio version": "fio-3.33", "jobs": [{"jobname": "j", "read": read}]})


def fio_read(**fields: object) -> dict[str, object]:
    return {"io_bytes": 4096, "iops": 10.0, "bw_bytes": 4096, **fields}


def stress(value: str) -> str:
    return f"---\nmetrics:\n    - stressor: cpu\n      bogo-ops: 602\n      {value}\n"


def iperf(total: str) -> str:
    return '{"start": {}, "end": {"sum_received": ' + total + "}}"


HOSTILE: list[tuple[str, str, str]] = [
    # sysbench: the summary line with what is not a number
    ("sysbench-cpu", "events per second: 1.2.3", "not a number"),
    ("sysbench-cpu", f"events per second: {DIGITS}", "not a number"),
    ("sysbench-cpu", "events per second: nan", "not a number"),
    ("sysbench-cpu", "events per second: inf", "not a number"),
    ("sysbench-cpu", "events per second: 1e999", "not a finite number"),
    ("sysbench-cpu", "events per second: -5", "cannot be negative"),
    ("sysbench-cpu", "events per second: 0x10", "not a number"),
    ("sysbench-memory", "102400.00 MiB transferred (1.2.3 MiB/sec)", "not a number"),
    ("sysbench-memory", f"1 MiB transferred ({DIGITS} MiB/sec)", "not a number"),
    ("sysbench-memory", "1 MiB transferred (NaN MiB/sec)", "not a number"),
    # fio: JSON of the wrong shape or values that are not numbers
    ("fio", fio_job(fio_read()).replace("10.0", "NaN"), "NaN is not a number JSON allows"),
    ("fio", fio_job(fio_read()).replace("10.0", "Infinity"), "Infinity is not a number"),
    ("fio", fio_job(fio_read()).replace("10.0", "1e999"), "not a finite number"),
    ("fio", '{"jobs": [1]}', "a fio job is not an object"),
    ("fio", '{"jobs": {"a": 1}}', "fio's jobs is not a list"),
    ("fio", '{"jobs": "many"}', "fio's jobs is not a list"),
    ("fio", fio_job([]), "fio's read is not an object"),
    ("fio", fio_job(fio_read(io_bytes="abc")), "io_bytes is not a number"),
    ("fio", fio_job(fio_read(iops=True)), "iops is not a number"),
    ("fio", fio_job(fio_read(iops=None)), "iops is not a number"),
    ("fio", fio_job(fio_read(iops=-5)), "cannot be negative"),
    ("fio", fio_job(fio_read(iops=2**70)), "magnitude under 2\\*\\*63"),
    ("fio", fio_job(fio_read(clat_ns=5)), "clat_ns is not an object"),
    ("fio", fio_job(fio_read(clat_ns={"percentile": {"50.000000": "x"}})), "clat p50 is not a"),
    ("fio", '{"jobs": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests too deeply|malformed"),
    ("fio", '{"jobs": [{"read": {"io_bytes": ' + "1" * 5000 + "}}]}", "malformed"),
    ("fio", "[1, 2]", "no JSON document"),
    ("fio", '"jobs"', "no JSON document"),
    # redis-benchmark: CSV cells that are not rates
    ("redis-benchmark", '"SET","nan"', "not a number"),
    ("redis-benchmark", '"SET","inf"', "not a number"),
    ("redis-benchmark", '"SET","-1"', "cannot be negative"),
    ("redis-benchmark", '"SET","1.2.3"', "not a number"),
    ("redis-benchmark", '"SET"', "has no requests per second"),
    ("redis-benchmark", '"test","rps"\n"GET"', "has no requests per second"),
    ("redis-benchmark", f'"SET","{DIGITS}"', "not a number"),
    ("redis-benchmark", '"SET","1\x002"', "not a number|NUL|line contains"),
    # stress-ng: YAML values that are not numbers, missing keys, the wrong shapes
    ("stress-ng", stress("bogo-ops-per-second-real-time: .inf"), "not a finite number"),
    ("stress-ng", stress("bogo-ops-per-second-real-time: .nan"), "not a finite number"),
    ("stress-ng", stress("bogo-ops-per-second-usr-sys-time: 1.0"), "not a number \\(got None\\)"),
    ("stress-ng", stress("bogo-ops-per-second-real-time: [1]"), "not a number"),
    ("stress-ng", stress("bogo-ops-per-second-real-time: abc"), "not a number"),
    ("stress-ng", stress("bogo-ops-per-second-real-time: true"), "not a number"),
    ("stress-ng", stress("bogo-ops-per-second-real-time: -3.5"), "cannot be negative"),
    ("stress-ng", "---\nmetrics: 5\n", "stress-ng's metrics is not a list"),
    ("stress-ng", "---\nmetrics: [1]\n", "a stress-ng metrics row is not an object"),
    ("stress-ng", "---\nmetrics:\n  - {a: 1, a: 2}\n", "malformed"),
    ("stress-ng", "---\na: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                  "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                  "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nmetrics: [*e]\n", "malformed"),
    ("stress-ng", "---\nmetrics: " + "[" * 40 + "]" * 40 + "\n", "malformed"),
    # iperf3: the rate as a string, NaN, the wrong shapes
    ("iperf3", iperf('{"bits_per_second": "abc"}'), "not a number"),
    ("iperf3", iperf('{"bits_per_second": NaN}'), "NaN is not a number JSON allows"),
    ("iperf3", iperf('{"bits_per_second": 1e999}'), "not a finite number"),
    ("iperf3", iperf('{"bits_per_second": -1}'), "cannot be negative"),
    ("iperf3", iperf("5"), "no end.sum_received"),
    ("iperf3", '{"end": [1]}', "iperf3's end is not an object"),
    ("iperf3", '{"end": "x"}', "iperf3's end is not an object"),
    ("iperf3", '{"error": {"a": [1]}}', "iperf3 reported"),
]


@pytest.mark.parametrize(("parser", "output", "message"), HOSTILE)
def test_hostile_output_is_an_output_error(parser: str, output: str, message: str) -> None:
    with pytest.raises(OutputError, match=message):
        parse_output(parser, (), output.splitlines(), ())  # type: ignore[arg-type]


RULE = RegexMetric(name="took", regex=r"took (\S+) s", unit="s", direction="lower")


@pytest.mark.parametrize(("line", "message"), [
    ("took 1.2.3 s", "not a number"), (f"took {DIGITS} s", "not a number"),
    ("took nan s", "not a number"), ("took -3 s", "cannot be negative"),
    ("took 1e999 s", "not a finite number"), ("took 0x1f s", "not a number"),
])
def test_a_declared_metric_that_is_not_a_number_is_an_output_error(line: str, message: str) -> None:
    with pytest.raises(OutputError, match=message):
        parse_output("duration", [RULE], [line], [])


def test_a_regex_group_that_matched_nothing_is_an_output_error() -> None:
    rule = RegexMetric(name="opt", regex=r"(\d+)? done", unit="count", direction="higher")
    with pytest.raises(OutputError, match="not a number \\(got None\\)"):
        parse_output("duration", [rule], ["it is done"], [])


def test_a_metric_name_too_long_for_the_results_is_an_output_error() -> None:
    rows = "\n".join(["---", "metrics:", f"  - {{stressor: {'x' * 300}, "
                      "bogo-ops-per-second-real-time: 1.0}", "  - {stressor: cpu, "
                      "bogo-ops-per-second-real-time: 2.0}"])
    with pytest.raises(OutputError, match="metric must be a printable name"):
        parse_output("stress-ng", (), rows.splitlines(), ())


@pytest.mark.parametrize(("parser", "fixture"), [
    ("sysbench-cpu", "sysbench-cpu.txt"), ("sysbench-memory", "sysbench-memory.txt"),
    ("fio", "fio.json"), ("stress-ng", "stressng.txt"), ("iperf3", "iperf3.json"),
    ("redis-benchmark", "redis.csv")])
def test_real_output_gives_samples_the_results_accept(parser: str, fixture: str) -> None:
    """Every unit a parser gives (stress-ng's bogo-ops/s included) is one the reader knows:
    each metric, as the sample it becomes, breaks no rule."""
    lines = (FIXTURES / fixture).read_text().splitlines()
    metrics = parse_output(parser, (), lines, ())  # type: ignore[arg-type]
    assert metrics
    for metric in metrics:
        record = {"runtime": "r", "workload": "w", "metric": PREFIX + metric.name,
                  "unit": metric.unit, "value": metric.value, "repetition": 0, "status": "ok",
                  "cell": 0, "direction": metric.direction}
        assert record_problem(record) is None, record


FUZZ = settings(max_examples=300, deadline=5000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
TOOLISH = st.sampled_from(["events per second: ", "MiB transferred (", " MiB/sec)", "{", "}",
                           '"jobs"', '"read"', '"io_bytes"', '"iops"', '"bw_bytes"', ":", ",",
                           "[", "]", "---\n", "metrics:\n", "  - ", "stressor: ",
                           "bogo-ops-per-second-real-time: ", '"SET",', '"test","rps"', "\n",
                           "NaN", ".inf", "1e999", "-1", "1.2.3", "0", "9" * 30, "&a ", "*a",
                           '"end"', '"sum_received"', '"bits_per_second"', '"error"', "null",
                           "true", '"', "\x00", "\x1b[31m", "\u2028"])


@FUZZ
@given(data=st.one_of(st.binary(max_size=400),
                      st.lists(TOOLISH, max_size=60).map(lambda p: "".join(p).encode())),
       parser=st.sampled_from(sorted(PARSERS)))
def test_any_bytes_as_any_parsers_input_fail_at_most_that_cell(data: bytes, parser: str) -> None:
    """What a command prints reaches its parser as text lines; whatever they hold, the parser
    gives metrics the results accept, or an OutputError (the cell's failure), nothing else."""
    lines = data.decode("utf-8", errors="replace").splitlines()
    rule = RegexMetric(name="x", regex=r"x=(\S*)", unit="count", direction="higher")
    try:
        metrics = parse_output(parser, [rule], lines, lines)  # type: ignore[arg-type]
    except OutputError as error:
        assert str(error)
        return
    for metric in metrics:
        assert math.isfinite(metric.value) and metric.value >= 0
