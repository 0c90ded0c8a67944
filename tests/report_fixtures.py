"""Synthetic results directories for the report's tests and benchmark.

They are written through bench.results.writer.RunWriter, so they have the layout a real run leaves,
with the shapes the real drivers produce: a process baseline, a namespace runtime, a
container with a shim and a cgroup, and a TCG guest whose boot is three orders of
magnitude slower.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from bench.results.manifest import Manifest, RunConfig
from bench.results.sample import Sample
from bench.results.writer import RunWriter

CREATED = 1_700_000_000.0
SYSCALL_NS = {"getppid": 250.0, "clock_gettime": 30.0, "read": 500.0, "write": 470.0,
              "open_close": 4000.0, "stat": 2100.0}
DENSITY_COUNTS = (1, 2, 4, 8, 16)
DENSITY_STOP = "stopped early at N=8: MemAvailable 3900 MiB is under the floor of 4096 MiB"


class Row(Sample):
    """A Sample whose to_dict is shallow: a million of them are written in seconds."""

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


FIELDS = [f.name for f in fields(Sample)]


@dataclass(frozen=True)
class RuntimeModel:
    """What one synthetic runtime looks like: medians the samples scatter around."""

    driver: str
    boot_phases: dict[str, float]  # ms, in time order
    memory: dict[str, float]  # metric suffix -> bytes
    syscall_factor: float = 1.0
    fingerprint: dict[str, Any] = field(default_factory=dict)


MODELS: dict[str, RuntimeModel] = {
    "process": RuntimeModel("process", {"spawn": 0.2, "ready": 4.0}, {"host_pss": 840e3},
                            fingerprint={"driver": "process", "isolation": "none"}),
    "native": RuntimeModel("native", {"unshare": 3.5, "exec": 1.0, "ready": 2.0},
                           {"host_pss": 1.3e6, "cgroup": 700e3}, 1.02,
                           {"driver": "native", "cgroup": "v1"}),
    "docker": RuntimeModel("docker", {"create": 150.0, "start": 200.0, "ready": 20.0},
                           {"host_pss": 12e6, "host_pss.workload": 0.9e6, "host_pss.shim": 11e6,
                            "cgroup": 900e3}, 1.3,
                           {"driver": "docker", "engine_version": "20.10.24",
                            "seccomp": "default", "runtime": "runc"}),
    "libvirt": RuntimeModel("libvirt", {"define": 40.0, "create": 300.0, "console": 1500.0,
                                        "kernel": 8000.0},
                            {"host_pss": 45e6, "guest_ram": 95e6, "guest_mem_total": 230e6,
                             "guest_mem_available": 200e6}, 1.1,
                            {"driver": "libvirt", "accel": "tcg", "libvirt_version": "9.0.0",
                             "qemu_version": "7.2.0"}),
}


@dataclass
class Generator:
    """Writes one results directory; `runtimes` maps a runtime name to a model name."""

    runtimes: dict[str, str]
    repetitions: int = 5
    syscall_batches: int = 20
    description: str = "synthetic run"
    failures: int = 0
    density: bool = False  # add a density ladder per runtime
    density_only: bool = False  # only the ladder, as configs/density.yaml records it
    host: dict[str, Any] = field(default_factory=lambda: {
        "kernel": "6.1.0-test", "cpu_model": "Test CPU", "cores": 2, "cgroup_version": "v2",
        "arch": "x86_64", "bench_version": "0.1.0", "mitigations": {"meltdown": "Not affected"}})
    seed: int = 1
    scale: float = 1.0  # multiplies every value: a "later run" that got slower
    skipped: dict[str, str] = field(default_factory=dict)  # runtimes this host could not run

    def write(self, path: Path) -> Path:
        rng = np.random.default_rng(self.seed)
        store = RunWriter.create(path, self.manifest())
        try:
            store.record_drivers({name: MODELS[model].fingerprint
                                  for name, model in self.runtimes.items()})
            cell = 0
            for repetition in range(0 if self.density_only else self.repetitions):
                for name, model in self.runtimes.items():
                    store.append(self.cell_samples(rng, name, MODELS[model], repetition, cell))
                    cell += 2
            store.append(self.failed_samples())
            if self.density or self.density_only:
                store.append(self.density_samples(rng))
            store.complete(0, at=CREATED + 60.0 * self.repetitions)
        finally:
            store.close()
        return path

    def manifest(self) -> Manifest:
        runtimes: dict[str, Any] = {
            name: {"driver": MODELS[model].driver, "options": {}, "repetitions": None}
            for name, model in self.runtimes.items()}
        workloads: dict[str, Any] = {
            "idle": {"mode": "ready"},
            "syscalls": {"mode": "syscall", "batches": self.syscall_batches}}
        if self.density or self.density_only:
            workloads = {} if self.density_only else workloads
            workloads["density"] = {"mode": "density", "counts": list(DENSITY_COUNTS)}
        config = {"description": self.description,
                  "repetitions": 1 if self.density_only else self.repetitions,
                  "warmup": 0 if self.density_only else 1, "runtimes": runtimes,
                  "workloads": workloads}
        return Manifest(run_id="abc123", created=CREATED, config=RunConfig(config),
                        host=self.host, config_path="configs/synthetic.yaml",
                        skipped=self.skipped)

    def cell_samples(self, rng: np.random.Generator, name: str, model: RuntimeModel,
                     repetition: int, cell: int) -> list[Sample]:
        samples = self.boot(rng, name, "idle", model, repetition, cell)
        samples += [Sample(name, "idle", f"memory.{key}", round(value * self.noise(rng, 0.02)),
                           repetition, cell=cell) for key, value in model.memory.items()]
        samples += self.boot(rng, name, "syscalls", model, repetition, cell + 1)
        for syscall, ns in SYSCALL_NS.items():
            values = ns * model.syscall_factor * self.scale * rng.lognormal(
                0, 0.08, self.syscall_batches)
            samples += [Row(name, "syscalls", f"syscall.{syscall}", float(v), repetition,
                            unit="ns", cell=cell + 1, metadata={"batch": b})
                        for b, v in enumerate(values)]
        return samples

    def boot(self, rng: np.random.Generator, name: str, workload: str, model: RuntimeModel,
             repetition: int, cell: int) -> list[Sample]:
        phases = {phase: ms * self.scale * self.noise(rng, 0.15)
                  for phase, ms in model.boot_phases.items()}
        samples = [Sample(name, workload, "boot.total", sum(phases.values()), repetition,
                          cell=cell)]
        return samples + [Sample(name, workload, f"boot.{phase}", ms, repetition, phase=phase,
                                 cell=cell) for phase, ms in phases.items()]

    def failed_samples(self) -> list[Sample]:
        name = list(self.runtimes)[-1]
        return [Sample.failed(name, "idle", "cell", self.repetitions + n,
                              "instance timed out after 60 s waiting for BENCH-READY",
                              cell=10_000 + n) for n in range(self.failures)]

    def density_samples(self, rng: np.random.Generator) -> list[Sample]:
        """A ladder per runtime, with bench.density's metrics; the heaviest stops early."""
        samples = []
        for index, (name, model) in enumerate(self.runtimes.items()):
            last = index == len(self.runtimes) - 1 and len(self.runtimes) > 1
            for count in DENSITY_COUNTS[:3] if last else DENSITY_COUNTS:
                samples += self.density_rung(rng, name, MODELS[model], count, index)
            if last:
                samples.append(Sample(name, "density", "density.stopped", None, 0, unit="count",
                                      phase=str(DENSITY_COUNTS[3]), status="failed",
                                      reason=DENSITY_STOP, cell=20_000 + index))
        return samples

    def density_rung(self, rng: np.random.Generator, name: str, model: RuntimeModel,
                     count: int, index: int) -> list[Sample]:
        shared = 1 / (1 + 0.1 * count)  # shared pages: the cost per instance falls with N
        values = {"mem_available_per_instance": ("bytes", 1.5 * model.memory["host_pss"]),
                  "pss_per_instance": ("bytes", model.memory["host_pss"] * (0.5 + shared)),
                  "boot_total": ("ms", sum(model.boot_phases.values()))}
        if "cgroup" in model.memory:
            values["cgroup_per_instance"] = ("bytes", model.memory["cgroup"])
        return [Sample(name, "density", f"density.{metric}", value * self.noise(rng, 0.05), 0,
                       unit=unit, phase=str(count), cell=20_000 + index,
                       metadata={"count": count})
                for metric, (unit, value) in values.items()]

    @staticmethod
    def noise(rng: np.random.Generator, sigma: float) -> float:
        return float(rng.lognormal(0, sigma))


def write_results(path: Path, **options: Any) -> Path:
    return Generator(**options).write(path)


ALL = {"process": "process", "native": "native", "docker": "docker", "libvirt": "libvirt"}
HOSTILE = "<script>alert(1)</script>"
HOSTILE_IMG = '"><img src=x onerror="window.pwned=1">'


def hostile_dir(path: Path) -> Path:
    """A results directory whose every string tries to inject markup or close a <script>."""
    evil = f"{HOSTILE}</script><!--{HOSTILE_IMG}"
    manifest = Manifest(
        run_id=HOSTILE, created=1.7e9, config_path=evil,
        config=RunConfig({"description": evil, "repetitions": 5,
                          "runtimes": {"process": {"driver": "process"}, evil: {"driver": evil}},
                          "workloads": {evil: {"mode": HOSTILE}}}),
        host={"kernel": evil, "cpu_model": HOSTILE_IMG, evil: evil})
    store = RunWriter.create(path, manifest)
    store.record_drivers({evil: {"driver": evil, "accel": evil}})
    store.complete(0)
    for rep in range(5):
        for runtime in ("process", evil):
            store.append([Sample(runtime, evil, "boot.total", 5.0 + rep, rep, cell=rep),
                          Sample(runtime, evil, f"boot.{evil}", 5.0 + rep, rep, phase=evil,
                                 cell=rep),
                          Sample(runtime, evil, "memory.host_pss", 1e6 + rep, rep, cell=rep),
                          Sample(runtime, evil, f"syscall.{evil}", 100.0 + rep, rep, cell=rep)])
    store.append([Sample.failed(evil, evil, "cell", 9, evil, cell=99)])
    store.close()
    return path


def write_run(path: Path, runtime_names: tuple[str, str] = ("process", "native"),
              workload: str = "idle") -> Path:
    """A small results directory as a run writes it: two runtimes, a syscall workload, one
    failed cell (the tests of the readers and of the safe writers start from it)."""
    base, other = runtime_names
    config = {"runtimes": {base: {"driver": "process"}, other: {"driver": "native"}},
              "workloads": {workload: {"mode": "ready"}, "sys": {"mode": "syscall"}}}
    store = RunWriter.create(path, Manifest(run_id="abc123", config=RunConfig(config)))
    cell = 0
    for repetition in range(3):
        for runtime, scale in ((base, 1.0), (other, 1.3)):
            store.append([Sample(runtime, workload, "boot.total", 2.0 * scale + repetition, repetition,
                                 cell=cell),
                          Sample(runtime, workload, "memory.host_pss", 8e5 * scale, repetition,
                                 cell=cell)])
            store.append([Sample(runtime, "sys", "syscall.getppid", 250.0 * scale + b, repetition,
                                 cell=cell + 1, metadata={"batch": b}) for b in range(3)])
            store.record_cell({"cell": cell, "key": f"{runtime}/{workload}/{repetition}",
                               "status": "ok", "reason": None})
            cell += 2
    store.append([Sample.failed(other, workload, "cell", 3, "it broke", cell=cell)])
    store.complete(1)
    store.close()
    return path


# a command workloads run as configs/workloads.yaml records it: each workload's metrics with
# the unit and direction its parser gives them, and medians near a loaded 2-core host's
WORKLOADS: dict[str, dict[str, Any]] = {
    "cpu": {"argv": ["sysbench", "cpu", "--time=5", "run"], "metrics": {
        "workload.events_per_s": (2120.0, "events/s", "higher"),
        "workload.duration": (5.0, "s", "lower"), "cpu.host_per_guest": (0.997, "ratio", "lower"),
        "memory.peak_rss": (9.4e6, "bytes", "lower")}},
    "memory": {"argv": ["sysbench", "memory", "--time=5", "run"], "metrics": {
        "workload.mib_per_s": (22_900.0, "MiB/s", "higher")}},
    "disk": {"argv": ["fio", "--name=randrw", "--output-format=json"], "metrics": {
        "workload.read_iops": (6560.0, "IOPS", "higher"),
        "workload.write_iops": (6570.0, "IOPS", "higher"),
        "workload.read_bw": (2.688e7, "B/s", "higher"),
        "workload.read_clat_p50": (48_900.0, "ns", "lower"),
        "workload.read_clat_p99": (1.41e6, "ns", "lower")}},
    "net": {"argv": ["redis-benchmark", "-t", "set,get", "--csv"], "metrics": {
        "workload.get_rps": (133_000.0, "req/s", "higher"),
        "workload.set_rps": (154_000.0, "req/s", "higher")}},
    "server": {"argv": ["redis-server", "--port", "16379"], "metrics": {
        "start.total": (20.1, "ms", "lower"), "start.response": (12.6, "ms", "lower")}},
}
# per runtime: how its figures compare with the process's (a TCG guest: many times slower)
WORKLOAD_FACTORS = {"process": 1.0, "native": 1.02, "docker": 1.3, "libvirt": 20.0}


def write_workload_results(path: Path, repetitions: int = 6, guest_repetitions: int = 2,
                           seed: int = 3) -> Path:
    """A results directory of command workloads on process, native, docker and a TCG guest
    with fewer repetitions (so without intervals, as the report must say)."""
    rng = np.random.default_rng(seed)
    runtimes = {name: {"driver": name, "options": {}, "repetitions": guest_repetitions
                       if name == "libvirt" else None} for name in WORKLOAD_FACTORS}
    workloads = {name: {"mode": "command", "argv": spec["argv"]} for name, spec in WORKLOADS.items()}
    workloads["cpu"]["overrides"] = {"libvirt": {"argv": ["sysbench", "cpu", "--time=3", "run"]}}
    config = {"description": "synthetic workloads", "repetitions": repetitions, "warmup": 1,
              "runtimes": runtimes, "workloads": workloads}
    store = RunWriter.create(path, Manifest(run_id="wl123", created=CREATED, config=RunConfig(config),
                                            host=Generator(ALL).host,
                                            config_path="configs/workloads.yaml"))
    try:
        store.record_drivers({name: MODELS[name].fingerprint for name in WORKLOAD_FACTORS})
        cell = 0
        for repetition in range(repetitions):
            for runtime, factor in WORKLOAD_FACTORS.items():
                if runtime == "libvirt" and repetition >= guest_repetitions:
                    continue
                for workload, spec in WORKLOADS.items():
                    store.append(workload_samples(rng, runtime, factor, workload, spec["metrics"],
                                                  repetition, cell))
                    cell += 1
        store.complete(0, at=CREATED + 600.0)
    finally:
        store.close()
    return path


def workload_samples(rng: np.random.Generator, runtime: str, factor: float, workload: str,
                     metrics: dict[str, tuple[float, str, str]], repetition: int,
                     cell: int) -> list[Sample]:
    """One cell: boot, then each metric scattered around its median; a throughput divides by
    the runtime's factor, a time multiplies by it."""
    samples = [Sample(runtime, workload, "boot.total", 4.0 * factor * Generator.noise(rng, 0.1),
                      repetition, cell=cell)]
    for metric, (median, unit, direction) in metrics.items():
        scaled = median / factor if direction == "higher" else median * factor
        if metric in {"cpu.host_per_guest", "memory.peak_rss"}:
            scaled = median
        samples.append(Sample(runtime, workload, metric, scaled * Generator.noise(rng, 0.03),
                              repetition, unit=unit, direction=direction, cell=cell))
    return samples
