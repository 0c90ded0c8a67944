"""Podman: a container engine with no daemon, run as root, on the image the docker driver uses.

Docker is client-server: the Engine API, dockerd, containerd, a shim per container, then
runc. Podman is one program that does the engine's work itself, in the process the user
started, and leaves behind, per container, only conmon: a small C monitor that holds the
container's stdio and its exit status, and is the parent of its process, so podman
itself can exit. Both end in the same OCI runtime (runc here; crun is refused by this
host's hybrid cgroups, runsc works with the same flags the oci driver gives it).

Boot: `podman create` (image, storage, the OCI config), then `podman start --attach
--interactive` (conmon, `runc create` and `runc start`, and the attach that carries the
probe's output to us) until the ready line. Teardown: EOF on the container's stdin, then
`podman kill` (TERM, then KILL), then `podman rm`. Containers have no network, podman's
default seccomp profile (or none), the limits asked for, and rlimits this host allows
(podman's default nofile exceeds the hard limit here); they carry the labels bench.run and
bench.instance so `bench clean` finds what a killed run left.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from foundation.errors import (
    BenchError,
    BuildError,
    ExitCause,
    InstanceError,
    RuntimeUnavailable,
    TeardownError,
)
from runtimes.base import Driver, MemoryReading, ProbeCommand, RunContext
from runtimes.docker.image import probe_digest
from runtimes.host import registry
from runtimes.host.gvisor import DEFAULT_PLATFORM, runsc_flags
from runtimes.host.labels import INSTANCE_LABEL, RUN_LABEL
from runtimes.host.oci_runtimes import RUNTIMES, OciRuntime, runtime_refusal, runtime_version
from runtimes.host.options import EngineOptions
from runtimes.host.procs import container_memory
from runtimes.host.spawn import TAG, Child, stop_process
from runtimes.host.tool_starts import ToolStarts
from runtimes.host.tools import find_tool, missing_tool, run_tool, tool_version
from runtimes.instance import Instance
from runtimes.podman.image import ensure_image, image_metadata
from runtimes.podman.pull import publish, remove_image, timed_pull

ULIMITS = ("nofile=1024:1024", "nproc=1024:1024")  # within this host's hard limits


class PodmanOptions(EngineOptions):
    runtime: OciRuntime = "runc"
    seccomp: Literal["default", "unconfined"] = "default"


@dataclass
class PodmanHandle:
    """A container (named after the instance) and the `podman start --attach` client whose
    pipes carry its stdio."""

    name: str
    client: Child | None = None


class PodmanDriver(Driver[PodmanOptions, PodmanHandle]):
    kind = "podman"
    Options = PodmanOptions
    needs_root = "runs podman as root"
    variant_option = ("runtime", RUNTIMES)
    host_parts = ("workload", "sentry", "gofer", "conmon")

    def __init__(self, name: str, options: PodmanOptions, context: RunContext) -> None:
        super().__init__(name, options, context)
        self.image: str | None = None
        self.runtime_flags = runtime_flags(options.runtime)  # what the fingerprint records
        self.podman = podman_argv(options.runtime)
        self.registry = registry.Lease(context)  # the run's registry, for pull cold or warm
        self.published: dict[str, dict[str, Any]] = {}  # registry image -> its metadata
        self._pulling = threading.Lock()  # one cold pull at a time
        self.starts = ToolStarts()  # `podman start --attach`, armed before each clock
        self.podman_path = str(find_tool(self.podman[0]) or self.podman[0])  # the launcher takes a path

    @classmethod
    def unavailable_reason(cls, options: PodmanOptions) -> str | None:
        pulls = registry.unavailable() if options.pull != "never" else None
        return (super().unavailable_reason(options) or missing_tool("podman", "podman")
                or missing_tool("conmon", "conmon") or runtime_refusal(options.runtime)
                or (f"pull: {options.pull} starts from a registry on loopback, and {pulls}"
                    if pulls else None))

    def prepare(self, probe: Path) -> None:
        self.starts.prepare(self)
        try:
            self.image = ensure_image(self.podman, probe, self.context.work_dir)
        except BuildError as error:
            raise RuntimeUnavailable(f"podman could not build the probe image: {error}") from error
        if self.options.pull != "never":
            self.image = self._publish(probe)

    def _publish(self, probe: Path) -> str:
        """The marked probe image in the run's registry (pull.py), removed here; a warm
        runtime pulls it back once, outside every measurement."""
        name = self.resource_name("probe")
        reference = f"{self.registry.address()}/{name}:{probe_digest(probe)}"
        self.published[reference] = {}
        publish(self.podman, reference, probe, name.encode() + b"\n", self.context.work_dir,
                {RUN_LABEL: self.context.run_id})
        timed_pull(self.podman, reference)  # inspected once, then removed unless warm
        self.published[reference] = image_metadata(self.podman, reference)
        if self.options.pull == "cold":
            remove_image(self.podman, reference)
        return reference

    def start(self, command: ProbeCommand, deadline_ns: int) -> Instance[PodmanHandle]:
        """A cold start pulls its image first, apart from boot: removed (outside every clock),
        then pulled and timed (pull.*); boot's clock starts once the pull is done."""
        if self.options.pull != "cold" or self.image is None:
            return super().start(command, deadline_ns)
        with self._pulling:
            remove_image(self.podman, self.image)
            pulled = timed_pull(self.podman, self.image)
        instance = super().start(command, deadline_ns)
        instance.pull_phases = pulled
        return instance

    def close(self) -> None:
        try:
            while self.published:
                remove_image(self.podman, self.published.popitem()[0])
        finally:
            self.starts.close()
            self.registry.release()

    # --- boot ------------------------------------------------------------------------

    def create_argv(self, instance: Instance[PodmanHandle], command: ProbeCommand) -> list[str]:
        if self.image is None:
            raise InstanceError("the podman driver was used before prepare() built its image")
        options = self.options
        limits = [*(("--memory", str(int(options.memory_limit)), "--memory-swap",
                     str(int(options.memory_limit))) if options.memory_limit else ()),
                  *(("--pids-limit", str(options.pids_limit)) if options.pids_limit else ())]
        return [*self.podman, "create", "--name", instance.name, "--interactive",
                "--label", f"{RUN_LABEL}={self.context.run_id}",
                "--label", f"{INSTANCE_LABEL}={instance.name}", "--env", f"{TAG}={instance.name}",
                "--network", "none",
                *(arg for limit in ULIMITS for arg in ("--ulimit", limit)), *limits,
                *(("--security-opt", "seccomp=unconfined") if options.seccomp == "unconfined" else ()),
                self.image, *command.argv()]

    def before_clock(self, instance: Instance[PodmanHandle], command: ProbeCommand) -> None:
        """`podman start --attach` armed (runtimes/host/tool_starts.py); it runs after create."""
        self.starts.arm(instance, [self.podman_path, *self.podman[1:], "start", "--attach", "--interactive",
                                   instance.name])

    def launch(self, instance: Instance[PodmanHandle], command: ProbeCommand) -> None:
        handle = instance.handle = PodmanHandle(instance.name)
        try:
            # tagged as the instance, so `bench clean` also finds a create a killed run left going
            run_tool(self.create_argv(instance, command), f"podman create {instance.name}",
                     env={**os.environ, TAG: instance.name})
        except BaseException:
            self.starts.discard(instance)
            raise
        instance.mark("create")
        handle.client = self.starts.launch(instance)

    def after_ready(self, instance: Instance[PodmanHandle]) -> None:
        """`podman start --attach` returns only when the container ends: its step ends where
        the ready line arrived (conmon, runc create and start, the attach)."""
        found = instance.output.find("BENCH-READY")
        if found:
            instance.mark("start", found[0])

    # --- measure ---------------------------------------------------------------------

    def inspect(self, name: str) -> dict[str, Any]:
        done = run_tool([*self.podman, "container", "inspect", "--format", "json", name],
                        f"podman inspect {name}")
        found = json.loads(done.stdout or "[]")
        if not found:
            raise InstanceError(f"podman knows no container {name}")
        state: dict[str, Any] = found[0].get("State") or {}
        return state

    def memory(self, instance: Instance[PodmanHandle]) -> MemoryReading:
        handle = instance.held()
        state = self.inspect(handle.name)
        pid, conmon = int(state.get("Pid") or 0), int(state.get("ConmonPid") or 0)
        if pid <= 0 or conmon <= 0 or instance.output.closed:
            raise InstanceError(f"{instance.name} is not running (podman gives pid {pid})",
                                cause=self.exit_cause(instance))
        found = container_memory(self.options.runtime, pid, ("conmon", conmon))
        return MemoryReading(host_pss=sum(found.parts.values()), host_parts=found.parts,
                             cgroup=found.charge)

    def exit_cause(self, instance: Instance[PodmanHandle]) -> ExitCause | None:
        """What conmon recorded: the exit status, and whether the OOM killer acted."""
        handle = instance.handle
        if handle is None or not instance.output.closed:
            return None
        try:
            state = self.inspect(handle.name)
        except (InstanceError, ValueError):
            return None
        if state.get("Running"):
            return None
        status = int(state.get("ExitCode") or 0)
        if state.get("OOMKilled"):
            return ExitCause(status=status, oom=True, limit="the container's memory limit")
        return ExitCause.from_wait_status(status)

    # --- teardown --------------------------------------------------------------------

    def teardown(self, instance: Instance[PodmanHandle]) -> None:
        handle = instance.handle
        if handle is None:
            return
        client = handle.client
        try:
            if client is not None:
                self._leave(instance, client)
                instance.mark_stop("exit")
            run_tool([*self.podman, "rm", "--force", "--time", "0", handle.name],
                     f"podman rm {handle.name}")
            instance.mark_stop("remove")
        except InstanceError as error:
            raise TeardownError(f"podman could not remove {handle.name}: {error}") from error
        finally:
            if client is not None:
                stop_process(client, self.grace_seconds)

    def _leave(self, instance: Instance[PodmanHandle], client: Child) -> None:
        """EOF on the container's stdin; then TERM, then KILL through podman."""
        steps: list[list[str]] = [[], ["--signal", "TERM"], ["--signal", "KILL"]]
        for step in steps:
            if instance.output.closed:
                return
            if step:
                run_tool([*self.podman, "kill", *step, instance.name], f"podman kill {instance.name}",
                         check=False)
            elif client.stdin is not None and not client.stdin.closed:
                client.stdin.close()
            if instance.output.wait_closed(time.monotonic_ns() + int(self.grace_seconds * 1e9)):
                return

    # --- what the run records, and what clean finds -----------------------------------

    def fingerprint(self) -> dict[str, Any]:
        info = json.loads(run_tool([*self.podman, "info", "--format", "json"], "podman info").stdout)
        host, store = info.get("host") or {}, info.get("store") or {}
        conmon = find_tool("conmon")
        return {
            "driver": self.kind, "engine": "podman (no daemon)",
            "engine_version": (info.get("version") or {}).get("Version"),
            "conmon_version": tool_version(str(conmon)) if conmon else None,
            "runtime": self.options.runtime, "runtime_version": runtime_version(self.options.runtime),
            "runtime_flags": list(self.runtime_flags),
            "cgroup_manager": host.get("cgroupManager"), "cgroup_version": host.get("cgroupVersion"),
            "storage_driver": store.get("graphDriverName"), "events_backend": host.get("eventLogger"),
            "network": "none", "ulimits": list(ULIMITS), "seccomp": self.options.seccomp,
            "memory_limit": int(self.options.memory_limit) if self.options.memory_limit else None,
            "pids_limit": self.options.pids_limit,
            "image": (self.published.get(self.image) or image_metadata(self.podman, self.image))
            if self.image else None,
            "pull": self.options.pull,
            "registry": {"address": self.registry.held.address, "transport": "http on loopback "
                         "(podman --tls-verify=false)"} if self.registry.held else None,
        }

    @classmethod
    def clean(cls, options: PodmanOptions, run_id: str | None, dry_run: bool) -> list[str]:
        """Containers labelled by a bench run (this one or any), removed unless dry_run."""
        podman = podman_argv("runc")
        label = RUN_LABEL if run_id is None else f"{RUN_LABEL}={run_id}"
        try:
            done = run_tool([*podman, "ps", "--all", "--filter", f"label={label}", "--format",
                             "json"], "list bench containers")
            names = [c["Names"][0] for c in json.loads(done.stdout or "[]") if c.get("Names")]
            for name in names if not dry_run else []:
                run_tool([*podman, "rm", "--force", "--time", "0", name], f"podman rm {name}")
            images = run_tool([*podman, "images", "--filter", f"label={label}", "--format",
                               "json"], "list bench images")
            found = {i["Id"]: (i.get("Names") or [i["Id"]])[0]
                     for i in json.loads(images.stdout or "[]")}
            for image in found if not dry_run else []:
                run_tool([*podman, "rmi", "--force", image], f"podman rmi {image}", check=False)
        except (BenchError, ValueError) as error:
            raise RuntimeUnavailable(f"cannot clean podman containers: {error}") from error
        return ([f"podman container {name}" for name in names]
                + [f"podman image {name}" for name in found.values()])


def runtime_flags(runtime: str) -> tuple[str, ...]:
    """podman's --runtime-flag arguments: runsc gets the flags the oci driver gives it."""
    flags = runsc_flags(DEFAULT_PLATFORM, oci_seccomp=False) if runtime == "runsc" else ()
    return tuple(f"--runtime-flag={flag.removeprefix('--')}" for flag in flags)


def podman_argv(runtime: str) -> list[str]:
    """podman with its OCI runtime and that runtime's flags."""
    return ["podman", "--runtime", runtime, *runtime_flags(runtime)]
