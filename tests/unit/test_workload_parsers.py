"""Parsers on the tools' real output (tests/fixtures/workload_output, recorded on this
project's build host with the commands in docs/workloads.md), and on output they cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.workload.parsers import PARSERS, OutputError, extract, parse_output, redis_benchmark
from bench.workload.spec import RegexMetric

FIXTURES = Path(__file__).parents[1] / "fixtures" / "workload_output"


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


def by_name(parser: str, fixture: str) -> dict[str, tuple[float, str, str]]:
    return {m.name: (m.value, m.unit, m.direction) for m in PARSERS[parser](lines(fixture))}  # type: ignore[index]


def test_sysbench_cpu_and_memory() -> None:
    assert by_name("sysbench-cpu", "sysbench-cpu.txt") == {
        "events_per_s": (1547.26, "events/s", "higher")}
    assert by_name("sysbench-memory", "sysbench-memory.txt") == {
        "mib_per_s": (2219.85, "MiB/s", "higher")}


def test_fio_json_sides_and_percentiles() -> None:
    found = by_name("fio", "fio.json")
    assert found["read_iops"] == (5262.47505, "IOPS", "higher")
    assert found["write_bw"] == (21763576.0, "B/s", "higher")
    assert found["read_clat_p50"] == (50432.0, "ns", "lower")
    assert found["write_clat_p99"] == (978944.0, "ns", "lower")
    assert len(found) == 8


def test_fio_leaves_out_a_side_that_moved_no_bytes() -> None:
    text = (FIXTURES / "fio.json").read_text().replace('"io_bytes" : 21598208', '"io_bytes" : 0', 1)
    assert "read_iops" not in {m.name for m in PARSERS["fio"](text.splitlines())}


def test_stress_ng_iperf3_redis() -> None:
    assert by_name("stress-ng", "stressng.txt") == {
        "bogo_ops_per_s": (598.732193, "bogo-ops/s", "higher")}
    assert by_name("iperf3", "iperf3.json")["bits_per_s"][1:] == ("bit/s", "higher")
    assert by_name("redis-benchmark", "redis.csv") == {
        "set_rps": (26315.79, "req/s", "higher"), "get_rps": (28169.01, "req/s", "higher"),
        "lpush_rps": (17094.02, "req/s", "higher")}


def test_redis_csv_without_a_header_row() -> None:
    found = redis_benchmark(['"PING_INLINE","12345.67"', '"MSET (10 keys)","800.00"'])
    assert [(m.name, m.value) for m in found] == [("ping_inline_rps", 12345.67),
                                                  ("mset_10_keys_rps", 800.0)]


@pytest.mark.parametrize(("parser", "output", "message"), [
    ("sysbench-cpu", ["sysbench 1.0.20", "FATAL: unknown test"], "events per second"),
    ("fio", ["fio: pid=1, err=22/file:filesetup.c"], "no JSON document"),
    ("fio", ["{", '"jobs": [', "{"], "malformed"),
    ("iperf3", ['{"error": "unable to connect to server"}'], "unable to connect"),
    ("stress-ng", ["---", "system-info:", "    run-by: root"], "no metrics"),
    ("stress-ng", ["stress-ng: info: [1] dispatching hogs: 1 cpu"], "malformed"),
    ("redis-benchmark", ["ERROR: connection refused"], "no CSV rows"),
])
def test_unreadable_output_says_why(parser: str, output: list[str], message: str) -> None:
    with pytest.raises(OutputError, match=message):
        PARSERS[parser](output)  # type: ignore[index]


def test_regex_metric_from_stdout_or_stderr() -> None:
    rule = RegexMetric(name="took", regex=r"took (?P<value>[0-9.]+) s", unit="s", direction="lower")
    found = parse_output("duration", [rule], ["hello"], ["it took 1.5 s"])
    assert [(m.name, m.value, m.unit, m.direction) for m in found] == [("took", 1.5, "s", "lower")]
    with pytest.raises(OutputError, match="no line of the output matches"):
        extract(rule, ["nothing"])
