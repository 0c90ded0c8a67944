"""Collectors: turn a running instance into Samples, the same way for every driver.

Boot comes from the instance's host-stamped marks; memory is read after the instance
has gone idle and a settle period has passed; syscall latency is parsed from the
probe's batches once it reports it is done.
"""

from __future__ import annotations

import time

from bench.plan import Cell
from bench.results.sample import Sample
from runtimes.base import AnyDriver, AnyInstance, MemoryReading
from runtimes.errors import InstanceError
from runtimes.protocol import DONE, IDLE, parse_syscalls, probe_errors

# a part of memory.host_pss (the workload, a shim, the VMM) is the metric memory.host_pss.<part>
HOST_PART = "memory.host_pss."


def _sample(cell: Cell, metric: str, value: float, phase: str | None = None,
            metadata: dict[str, object] | None = None) -> Sample:
    return Sample(runtime=cell.runtime, workload=cell.workload, metric=metric, value=value,
                  repetition=cell.repetition, phase=phase, cell=cell.index,
                  metadata=metadata or {})


def boot_samples(cell: Cell, instance: AnyInstance) -> list[Sample]:
    samples = [_sample(cell, "boot.total", instance.boot_total_ms())]
    for phase, ms in instance.boot_phases().items():
        samples.append(_sample(cell, f"boot.{phase}", ms, phase=phase))
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
    still_there(instance, "during the settle")
    reading = driver.memory(instance)
    still_there(instance, "while its memory was read")
    check_parts(driver, reading)
    values: dict[str, int | None] = {"memory.host_pss": reading.host_pss,
                                     "memory.guest_ram": reading.guest_ram,
                                     "memory.cgroup": reading.cgroup}
    values.update({f"memory.{key}": value for key, value in reading.guest.items()})
    samples = [_sample(cell, metric, value) for metric, value in values.items() if value is not None]
    return samples + [_sample(cell, f"{HOST_PART}{part}", value, phase=part)
                      for part, value in reading.host_parts.items()]


def still_there(instance: AnyInstance, when: str) -> None:
    if instance.output.closed:
        raise InstanceError(f"{instance.name} exited {when}", tail=instance.output.tail())


def check_parts(driver: AnyDriver, reading: MemoryReading) -> None:
    """The parts of host_pss a driver reports are the ones it declares (a driver bug if not)."""
    if set(reading.host_parts) != set(driver.host_parts):
        raise InstanceError(f"driver {driver.kind} reported memory parts "
                            f"{sorted(reading.host_parts)}, but declares {list(driver.host_parts)}")


def syscall_samples(cell: Cell, instance: AnyInstance, deadline_ns: int) -> list[Sample]:
    instance.output.wait_for(DONE, deadline_ns, f"{cell.runtime} instance")
    lines = instance.output.text()
    errors = probe_errors(lines)
    if errors:
        raise InstanceError(f"the probe reported: {errors[0]}")
    batches = parse_syscalls(lines)
    if not batches:
        raise InstanceError("the probe finished without reporting any syscall batch")
    return [_sample(cell, f"syscall.{b.name}", b.ns_per_call, metadata={"batch": b.batch})
            for b in batches]
