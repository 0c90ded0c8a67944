"""Collectors: turn a running instance into Samples, the same way for every driver.

Boot comes from the instance's host-stamped marks; memory is read after the instance
has gone idle and a settle period has passed; syscall latency is parsed from the
probe's batches once it reports it is done.
"""

from __future__ import annotations

import time

from bench.plan import Cell
from bench.results.sample import Sample
from runtimes.base import Driver, Instance
from runtimes.errors import InstanceError
from runtimes.protocol import DONE, IDLE, parse_meminfo, parse_syscalls, probe_errors


def _sample(cell: Cell, metric: str, value: float, phase: str | None = None,
            metadata: dict[str, object] | None = None) -> Sample:
    return Sample(runtime=cell.runtime, workload=cell.workload, metric=metric, value=value,
                  repetition=cell.repetition, phase=phase, cell=cell.index,
                  metadata=metadata or {})


def boot_samples(cell: Cell, instance: Instance) -> list[Sample]:
    samples = [_sample(cell, "boot.total", instance.boot_total_ms())]
    for phase, ms in instance.boot_phases().items():
        samples.append(_sample(cell, f"boot.{phase}", ms, phase=phase))
    return samples


def stop_samples(cell: Cell, instance: Instance) -> list[Sample]:
    """Teardown, timed like boot: stop.total and the driver's named steps (exit, remove...)."""
    return [_sample(cell, f"stop.{phase}", ms, phase=None if phase == "total" else phase)
            for phase, ms in instance.stop_phases().items()]


def memory_samples(cell: Cell, driver: Driver, instance: Instance, settle: float,
                   deadline_ns: int) -> list[Sample]:
    instance.output.wait_for(IDLE, deadline_ns, f"{cell.runtime} instance")
    time.sleep(settle)
    reading = driver.memory(instance)
    values: dict[str, int | None] = {"memory.host_pss": reading.host_pss,
                                     "memory.guest_ram": reading.guest_ram,
                                     "memory.cgroup": reading.cgroup}
    values.update({f"memory.{key}": value for key, value in reading.extra.items()})
    guest = parse_meminfo(instance.output.text())
    if guest and reading.guest_ram is not None:  # only a guest's own kernel view is news
        values["memory.guest_mem_total"] = guest.total
        values["memory.guest_mem_available"] = guest.available
    return [_sample(cell, metric, value) for metric, value in values.items() if value is not None]


def syscall_samples(cell: Cell, instance: Instance, deadline_ns: int) -> list[Sample]:
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
