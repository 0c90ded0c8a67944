"""Collectors: turn a running instance into Samples, the same way for every driver.

Boot comes from the instance's host-stamped marks; memory is read after the instance
has gone idle and a settle period has passed; syscall latency is parsed from the
probe's batches once it reports it is done. A command workload gives its tool's metrics
(bench.workload.parsers), its duration measured inside and from the host, and, while it
ran, the host CPU charged to the instance and its peak memory.
"""

from __future__ import annotations

import time

from bench.plan import Cell
from bench.results.sample import Sample
from bench.workload.parsers import PREFIX, PRIMARY, Metric, OutputError, parse_output
from bench.workload.spec import CommandWorkload
from foundation.errors import InstanceError, signal_name
from runtimes.base import AnyDriver, AnyInstance, MemoryReading, Usage
from runtimes.protocol import (
    DONE,
    EXITED,
    IDLE,
    RESPONSE,
    STARTED,
    STDERR,
    STDOUT,
    CommandReport,
    LoopCost,
    SyscallBatch,
    check_protocol,
    parse_command,
    parse_loops,
    parse_syscalls,
    parse_target,
    probe_errors,
)

# a part of memory.host_pss (the workload, a shim, the VMM) is the metric memory.host_pss.<part>
HOST_PART = "memory.host_pss."
# the probe's calls that walk a path to its own file
PATH_CALLS = frozenset({"open_close", "stat"})


def _sample(cell: Cell, metric: str, value: float, phase: str | None = None,
            metadata: dict[str, object] | None = None, unit: str = "") -> Sample:
    return Sample(runtime=cell.runtime, workload=cell.workload, metric=metric, value=value,
                  repetition=cell.repetition, phase=phase, cell=cell.index,
                  metadata=metadata or {}, unit=unit)


# a duration the guest measured with its own kernel clock: guest.<phase>, not a boot phase
GUEST_CLOCK = "guest."


def boot_samples(cell: Cell, instance: AnyInstance) -> list[Sample]:
    """boot.total and its phases; for an instance whose image was pulled first (a cold
    start), pull.total and its phases too, apart from boot (which starts after the pull)."""
    samples = [_sample(cell, "boot.total", instance.boot_total_ms())]
    for phase, ms in instance.boot_phases().items():
        samples.append(_sample(cell, f"boot.{phase}", ms, phase=phase))
    if instance.pull_phases:
        samples.append(_sample(cell, "pull.total", sum(instance.pull_phases.values())))
    samples += [_sample(cell, f"pull.{phase}", ms, phase=phase)
                for phase, ms in instance.pull_phases.items()]
    samples += [_sample(cell, f"{GUEST_CLOCK}{phase}", ms, unit="ms",
                        metadata={"clock": "the guest kernel's CLOCK_BOOTTIME"})
                for phase, ms in instance.guest_phases.items()]
    return samples


def stop_samples(cell: Cell, instance: AnyInstance) -> list[Sample]:
    """Teardown, timed like boot: stop.total and the driver's named steps (exit, remove...)."""
    return [_sample(cell, f"stop.{phase}", ms, phase=None if phase == "total" else phase)
            for phase, ms in instance.stop_phases().items()]


def memory_samples(cell: Cell, driver: AnyDriver, instance: AnyInstance, settle: float,
                   deadline_ns: int) -> list[Sample]:
    """The idle instance's memory after the settle; an instance that left meanwhile fails
    the cell (a vanished process has no memory to read, which is not a reading of 0)."""
    instance.output.wait_for(IDLE, deadline_ns, f"{cell.runtime} instance")
    time.sleep(settle)
    reading = memory_reading(driver, instance)
    values: dict[str, int | None] = {"memory.host_pss": reading.host_pss,
                                     "memory.guest_ram": reading.guest_ram,
                                     "memory.cgroup": reading.cgroup}
    values.update({f"memory.{key}": value for key, value in reading.guest.items()})
    samples = [_sample(cell, metric, value) for metric, value in values.items() if value is not None]
    return samples + [_sample(cell, f"{HOST_PART}{part}", value, phase=part)
                      for part, value in reading.host_parts.items()]


def memory_reading(driver: AnyDriver, instance: AnyInstance) -> MemoryReading:
    """The driver's memory reading of a settled instance, taken only while the instance is
    there before and after (a vanished process has no memory to read, which is not a reading
    of 0), with the parts the driver declares. Shared by a cell and a density ladder."""
    still_there(instance, "during the settle")
    reading = driver.memory(instance)
    still_there(instance, "while its memory was read")
    check_parts(driver, reading)
    return reading


def still_there(instance: AnyInstance, when: str) -> None:
    if instance.output.closed:
        raise InstanceError(f"{instance.name} exited {when}", tail=instance.output.tail())


def check_parts(driver: AnyDriver, reading: MemoryReading) -> None:
    """The parts of host_pss a driver reports are among the ones it declares (a driver bug if
    not); a variant may report fewer (a runc container has no gVisor Sentry or Gofer)."""
    if not set(reading.host_parts) <= set(driver.host_parts):
        raise InstanceError(f"driver {driver.kind} reported memory parts "
                            f"{sorted(reading.host_parts)}, but declares {list(driver.host_parts)}")


def syscall_samples(cell: Cell, instance: AnyInstance, deadline_ns: int) -> list[Sample]:
    instance.output.wait_for(DONE, deadline_ns, f"{cell.runtime} instance")
    lines = instance.output.text()
    check_protocol(lines)
    errors = probe_errors(lines)
    if errors:
        raise InstanceError(f"the probe reported: {errors[0]}")
    batches = parse_syscalls(lines)
    if not batches:
        raise InstanceError("the probe finished without reporting any syscall batch")
    # where the probe's file sits differs by runtime (ext4, overlayfs, ramfs): recorded with
    # the calls that reach it
    target = parse_target(lines)
    placed = {"target": target.name, "target_fs": target.filesystem} if target else {}
    loops = parse_loops(lines)
    return [_sample(cell, f"syscall.{b.name}", b.ns_per_call,
                    metadata={"batch": b.batch, **loop_fields(b, loops.get(b.name)),
                              **(placed if b.name in PATH_CALLS else {})})
            for b in batches]


def loop_fields(batch: SyscallBatch, loop: LoopCost | None) -> dict[str, object]:
    """Beside the call's cost, the batch's raw time per iteration and the loop's cost the
    probe subtracted (docs/methodology-syscalls.md); `loop_bounded` where the least batch
    with the call bounded it."""
    fields: dict[str, object] = {} if batch.raw_ns is None else {"raw_ns": batch.raw_ns}
    if loop is not None:
        fields["loop_ns"] = loop.ns_per_iter
        if loop.bounded:
            fields["loop_bounded"] = True
    return fields


# --- command workloads ----------------------------------------------------------------

RESOLVED_TICKS = 100  # cpu.host_per_guest needs this many of the host counter's units inside


def workload_sample(cell: Cell, metric: Metric) -> Sample:
    return Sample(runtime=cell.runtime, workload=cell.workload, metric=PREFIX + metric.name,
                  value=metric.value, repetition=cell.repetition, unit=metric.unit,
                  direction=metric.direction, cell=cell.index)


def command_failure(cell: Cell, workload: CommandWorkload, reason: str) -> Sample:
    """The failed row of a cell whose command failed or whose output could not be read:
    recorded against the parser's own metric, so the gate sees that metric fail."""
    name, unit, direction = PRIMARY[workload.parser]
    return Sample.failed(cell.runtime, cell.workload, PREFIX + name, cell.repetition, reason,
                         cell=cell.index, unit=unit, direction=direction)


def stamp(instance: AnyInstance, prefix: str) -> int | None:
    found = instance.output.find(prefix)
    return found[0] if found else None


def output_tail(instance: AnyInstance, count: int = 5) -> str:
    shown = [line for line in instance.output.output_tail((STDOUT, STDERR), 4 * count)
             if line.strip()]
    return " | ".join(shown[-count:])[-400:] or "no output"


def command_streams(instance: AnyInstance, workload: CommandWorkload) -> tuple[list[str], list[str]]:
    """The command's stdout and stderr lines, read back from its output file only where a
    parser needs them (`duration` alone reads nothing: its figure is the probe's)."""
    if workload.parser == "duration" and not workload.metrics:
        return [], []
    return list(instance.output.output(STDOUT)), list(instance.output.output(STDERR))


def command_outcome(report: CommandReport) -> str | None:
    """Why a command failed, or None when it succeeded (a server stopped after its first
    answer succeeded)."""
    if report.stopped == 1:
        return None
    if report.stopped == 2:
        return "the command ran past its timeout and was killed"
    if report.signal:
        return f"the command was killed by signal {signal_name(report.signal)}"
    if report.status != 0:
        return f"the command exited with status {report.status}"
    return None


def timing_samples(cell: Cell, instance: AnyInstance, report: CommandReport) -> list[Sample]:
    """workload.duration (inside, the probe's clock: a duration needs no shared clock),
    workload.duration_host (the host's stamps of the start and exit lines) and the CPU time
    the command and its helpers used inside (getrusage)."""
    samples = [_sample(cell, "workload.duration", report.wall_ns / 1e9, unit="s"),
               _sample(cell, "workload.cpu_time", report.cpu_ns / 1e9, unit="s")]
    began, ended = stamp(instance, STARTED), stamp(instance, EXITED)
    if began is not None and ended is not None:
        samples.append(_sample(cell, "workload.duration_host", (ended - began) / 1e9, unit="s"))
    return samples


def server_samples(cell: Cell, instance: AnyInstance) -> list[Sample]:
    """A server's start on the host clock: boot -> command started -> first response."""
    began, answered = stamp(instance, STARTED), stamp(instance, RESPONSE)
    if began is None or answered is None:
        raise InstanceError("the server never answered before it ended", tail=instance.output.tail())
    ready = instance.ready_ns()
    phases = {"boot": ready - instance.requested_ns, "command": began - ready,
              "response": answered - began}
    samples = [_sample(cell, "start.total", (answered - instance.requested_ns) / 1e6)]
    return samples + [_sample(cell, f"start.{phase}", ns / 1e6, phase=phase)
                      for phase, ns in phases.items()]


def usage_samples(cell: Cell, before: Usage, after: Usage, report: CommandReport) -> list[Sample]:
    """cpu.host_per_guest: host CPU charged to the instance while the command ran, over the
    CPU time the command used inside; memory.peak: the instance's peak host charge where
    the driver can tell (a cgroup's peak, a VMM's peak resident set); memory.peak_rss: the
    largest resident set among the command's processes (getrusage, inside: every runtime)."""
    samples = []
    # a ratio only where the host's counter resolves it to about 1 %
    resolved = report.cpu_ns >= RESOLVED_TICKS * after.cpu_resolution_ns
    if before.cpu_ns is not None and after.cpu_ns is not None and resolved:
        samples.append(_sample(cell, "cpu.host_per_guest", (after.cpu_ns - before.cpu_ns) /
                               report.cpu_ns, metadata={"source": after.cpu_source}))
    if after.peak_bytes is not None:
        samples.append(_sample(cell, "memory.peak", after.peak_bytes,
                               metadata={"source": after.peak_source}))
    if report.all_maxrss_kb > 0:
        samples.append(_sample(cell, "memory.peak_rss", report.all_maxrss_kb * 1024))
    return samples


def command_samples(cell: Cell, driver: AnyDriver, instance: AnyInstance,
                    workload: CommandWorkload, deadline_ns: int) -> tuple[list[Sample], str | None]:
    """What a command workload measured, and why the cell failed (None when it did not):
    a command that failed or whose output its parser cannot read fails the cell with the
    reason and the output's tail, and the samples that hold (boot, usage) are kept."""
    before = driver.usage(instance)
    instance.output.wait_for(DONE, deadline_ns, f"{cell.runtime} instance")
    after = driver.usage(instance)
    lines = instance.output.text()
    report = parse_command(lines)
    if report is None:
        errors = probe_errors(lines)
        raise InstanceError(f"the probe reported: {errors[0]}" if errors else
                            "the probe ended without reporting on the command", tail=instance.output.tail())
    samples = usage_samples(cell, before, after, report)
    problem = command_outcome(report)
    if problem is None:
        try:
            metrics = parse_output(workload.parser, workload.metrics,
                                   *command_streams(instance, workload))
            samples += [workload_sample(cell, metric) for metric in metrics]
            if workload.readiness is None:
                samples += timing_samples(cell, instance, report)
            else:  # a server's lifetime is ours to choose: its start is what counts
                samples += server_samples(cell, instance)
            return samples, None
        except OutputError as error:
            problem = f"{workload.parser} output unreadable: {error}"
    reason = f"{problem} (last output: {output_tail(instance)})"
    return samples + [command_failure(cell, workload, reason)], reason
