"""The probe's syscall lines as the collector reads them: each batch's cost with its raw time
and the loop's cost beside it (docs/methodology-syscalls.md)."""

from __future__ import annotations

import pytest

from bench.collectors import syscall_samples
from bench.plan import Cell
from foundation.errors import InstanceError
from runtimes.instance import Instance
from runtimes.protocol import LoopCost, parse_loops, parse_syscalls

LINES = ["BENCH-READY syscall", "BENCH-TARGET name=probe fs=0xef53",
         "BENCH-LOOP getppid ns_per_iter=1.400 empty=1.400 bounded=0 calls=500",
         "BENCH-SYSCALL getppid 0 70.100 71.500", "BENCH-SYSCALL getppid 1 0.000 1.300",
         "BENCH-LOOP stat ns_per_iter=1.300 empty=1.900 bounded=1 calls=500",
         "BENCH-SYSCALL stat 0 0.000 1.300", "BENCH-DONE 0"]


def test_batches_carry_their_raw_time_and_loops_their_cost() -> None:
    batches = parse_syscalls(LINES)
    assert [(b.name, b.batch, b.ns_per_call, b.raw_ns) for b in batches] == [
        ("getppid", 0, 70.1, 71.5), ("getppid", 1, 0.0, 1.3), ("stat", 0, 0.0, 1.3)]
    assert parse_loops(LINES) == {"getppid": LoopCost(1.4, 1.4, False),
                                  "stat": LoopCost(1.3, 1.9, True)}
    assert parse_syscalls(["BENCH-SYSCALL getppid 0 250.5"])[0].raw_ns is None  # older probes


@pytest.mark.parametrize("line", ["BENCH-SYSCALL getppid 0 1 2 3", "BENCH-LOOP x ns_per_iter=a empty=1",
                                  "BENCH-LOOP x empty=1"])
def test_a_malformed_line_is_an_instance_error(line: str) -> None:
    with pytest.raises(InstanceError, match="malformed probe line"):
        parse_syscalls([line]) if line.startswith("BENCH-SYSCALL") else parse_loops([line])


def test_samples_hold_the_raw_time_and_the_loop() -> None:
    instance: Instance[None] = Instance("bench-x-fake-1", 0)
    instance.output.feed(("\n".join(LINES) + "\n").encode(), 1000)
    samples = syscall_samples(Cell(3, "fake", "sys", 0, False), instance, 10**18)
    found = {(s.metric, s.metadata["batch"]): (s.value, s.metadata) for s in samples}
    assert found[("syscall.getppid", 0)] == (70.1, {"batch": 0, "raw_ns": 71.5, "loop_ns": 1.4})
    value, metadata = found[("syscall.stat", 0)]
    assert value == 0.0 and metadata["loop_bounded"] is True and metadata["target_fs"] == "ext4"
