"""The probe's protocol as the host checks it, and a command's output kept out of memory.

A report that breaks the protocol (a field unknown, repeated, missing or out of its range, a
once-only marker twice) is a ProtocolError, which fails the cell; the command's own lines go
to a file as they come and are read back from it only where a parser needs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundation.errors import ProtocolError
from runtimes.instance import StampedLines
from runtimes.protocol import (
    COMMAND_FIELDS,
    check_protocol,
    command_report,
    exit_status,
    parse_command,
)

REPORT = ("BENCH-COMMAND status=0 signal=0 stopped=0 wall_ns=1500000000 user_ns=10 sys_ns=20 "
          "maxrss_kb=1408 all_user_ns=30 all_sys_ns=40 all_maxrss_kb=1408")


def test_a_sound_report_is_read() -> None:
    report = parse_command(["BENCH-READY command", "BENCH-STARTED", "BENCH-EXITED", REPORT,
                            "BENCH-DONE 0"])
    assert report is not None and report.wall_ns == 1_500_000_000 and report.cpu_ns == 70


@pytest.mark.parametrize(("change", "message"), [
    (("wall_ns=1500000000", "wall_ns=-5000000000"), r"wall_ns=-5000000000 is outside 0\.\."),
    (("status=0", "status=256"), "status=256 is outside -1..255"),
    (("signal=0", "signal=65"), "signal=65 is outside"),
    (("stopped=0", "stopped=4"), "stopped=4 is outside"),
    (("user_ns=10", "user_ns=1e9"), "user_ns=1e9 is outside"),
    (("user_ns=10", "user_ns=\N{SUPERSCRIPT TWO}"), "is outside"),  # a digit to isdigit()
    (("sys_ns=20", "sys_ns=99999999999999999999"), "is outside"),
    (("sys_ns=20", "sys_ns=20 sys_ns=20"), "'sys_ns' is unknown, repeated"),
    (("sys_ns=20", "sys_ns=20 extra=1"), "'extra' is unknown"),
    (("sys_ns=20", "sys_ns"), "'sys_ns' is unknown, repeated or has no value"),
    ((" maxrss_kb=1408", ""), "fields maxrss_kb are missing"),
    (("all_user_ns=30", "all_user_ns=5"), "less than the command's"),
])
def test_a_report_out_of_its_protocol_is_refused(change: tuple[str, str], message: str) -> None:
    line = REPORT.replace(*change, 1)
    with pytest.raises(ProtocolError, match=message) as refused:
        command_report(line)
    assert refused.value.line == line
    assert "breaks its protocol" in str(refused.value)


def test_a_second_report_is_someone_elses() -> None:
    forged = REPORT.replace("wall_ns=1500000000", "wall_ns=1")
    with pytest.raises(ProtocolError, match="BENCH-COMMAND came twice"):
        parse_command(["BENCH-READY command", "BENCH-STARTED", forged, REPORT, "BENCH-DONE 0"])
    with pytest.raises(ProtocolError, match="BENCH-DONE came twice"):
        check_protocol(["BENCH-DONE 0", "BENCH-DONE 0"])
    with pytest.raises(ProtocolError, match="unknown marker 'BENCH-COMMANDX'"):
        check_protocol(["BENCH-COMMANDX status=0"])
    check_protocol(["[    0.1] Linux version", "BENCH-SYSCALL a 0 1", "BENCH-SYSCALL a 1 1",
                    "BENCH-OUT BENCH-COMMAND status=0", "BENCH-ERROR x", "BENCH-ERROR y"])


def test_a_done_that_is_not_a_status_reads_as_none() -> None:
    assert exit_status(["BENCH-DONE 3"]) == 3
    assert exit_status(["BENCH-DONE x"]) is None
    assert exit_status(["BENCH-DONE 99999999999999999999"]) is None
    assert exit_status(["BENCH-DONE"]) is None


def test_the_commands_lines_go_to_the_sink_and_only_the_protocol_stays(tmp_path: Path) -> None:
    sink = tmp_path / "output" / "cell.txt"
    out = StampedLines(sink)
    out.feed(b"BENCH-READY command\nBENCH-STARTED\nBENCH-OUT 1\nBENCH-OUT 2\nBENCH-E", 10)
    out.feed(b"RR oops\nBENCH-OUT\nBENCH-BG helper\nBENCH-OUT 3\r\nBENCH-EXITED\n", 20)
    out.feed(b"BENCH-OUT tail without a newline", 30)
    out.close()
    assert out.text() == ["BENCH-READY command", "BENCH-STARTED", "BENCH-EXITED"]
    assert out.forwarded == 7
    assert list(out.output("BENCH-OUT ")) == ["1", "2", "", "3", "tail without a newline"]
    assert list(out.output("BENCH-ERR ")) == ["oops"]
    assert out.output_tail(("BENCH-OUT ", "BENCH-ERR "), 3) == ["", "3", "tail without a newline"]
    assert out.wait_for("BENCH-EXITED", 0, "t") == (20, "BENCH-EXITED")
    assert out.tail(1) == ("BENCH-OUT tail without a newline",)


def test_without_a_sink_everything_stays_in_memory() -> None:
    out = StampedLines()
    out.feed(b"BENCH-READY command\nBENCH-OUT 1\n", 5)
    out.close()
    assert out.text() == ["BENCH-READY command", "BENCH-OUT 1"]
    assert list(out.output("BENCH-OUT ")) == ["1"]


def test_a_stream_that_never_ends_a_line_is_cut(tmp_path: Path) -> None:
    out = StampedLines(tmp_path / "o.txt")
    for _ in range(20):
        out.feed(b"x" * (128 << 10), 1)
    assert len(out.text()) == 2 and len(out.text()[0]) > (1 << 20)
    out.close()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["BENCH-COMMAND", "BENCH-DONE", "BENCH-READY", "BENCH-OUT",
                                 "BENCH-X", "status=0", "wall_ns=-1", "wall_ns=5", "=", " ",
                                 "\x00", "\r", "9" * 30, "user_ns=", "stopped=3"])
                .map("".join), max_size=30), st.text(max_size=60))
def test_any_line_is_a_report_in_range_or_a_protocol_error(parts: list[str], noise: str) -> None:
    """Whatever a stream carries, reading it gives a report whose every field is in its range,
    or None, or a ProtocolError (which fails one cell): never another exception."""
    lines = [*parts, noise, REPORT]
    try:
        report = parse_command(lines)
    except ProtocolError:
        return
    assert report is not None
    for field, (low, high) in COMMAND_FIELDS.items():
        assert low <= getattr(report, field) <= high


def test_bench_clean_never_says_nothing_is_left_while_something_is(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 20 point 4: it said "nothing left behind" while a command of the run lived on."""
    import bench.leftovers
    from bench.cli import main

    monkeypatch.setattr(bench.leftovers, "live_runs", lambda: set())
    monkeypatch.setattr(bench.leftovers, "clean_leftovers",
                        lambda *args, **kwargs: ["cgroup v1 memory/bench/bench-abc123-process-1-1"])
    assert main(["clean", "--run", "abc123"]) == 1
    printed = capsys.readouterr().out
    assert "still there: cgroup v1" in printed and "nothing left behind" not in printed
