"""The probe in a Docker container, driven through the Engine API (docker SDK), never the CLI.

Two modes. `fresh`: one container per instance, created, attached (before it starts, so
no output is missed) and started; its multiplexed output stream carries the ready
marker. `exec`: one long-running container per driver, and each instance is an exec of
the probe inside it, so boot measures what an exec costs. Containers get no network
(network mode none) and carry the labels bench.run / bench.instance, so `bench clean`
finds what a killed run left. The `docker` library is imported inside functions: this
module imports without it, and the driver then says how to install it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.errors import ExitCause, InstanceError, RuntimeUnavailable
from runtimes.base import (
    Driver,
    MemoryReading,
    ProbeCommand,
    RunContext,
    Usage,
)
from runtimes.commands import SCRATCH_MOUNT, PackagedCommand, Tree, scratch_fingerprint
from runtimes.docker.engine import (
    DEFAULT_ENDPOINT,
    close_connection,
    close_stdin,
    connect,
    engine_step,
    is_local,
    output_chunks,
    remove_container,
    remove_labelled,
    remove_labelled_images,
    runtime_missing,
)
from runtimes.docker.image import IMAGE_LABEL, ensure_image, ensure_tree_image, image_metadata, probe_digest
from runtimes.docker.options import DockerOptions
from runtimes.docker.pull import publish, remove_image, timed_pull
from runtimes.host import registry
from runtimes.host.cgroups import read_int
from runtimes.host.labels import INSTANCE_LABEL, RUN_LABEL
from runtimes.host.oci_runtimes import RUNTIMES
from runtimes.host.procs import container_memory, memory_cgroup_file, parent_pid, process_name
from runtimes.host.tools import find_tool, tool_version
from runtimes.host.usage import TICK_NS, process_cpu_ns
from runtimes.instance import Instance

__all__ = ["Attached", "DockerDriver", "DockerOptions"]

ATTACH = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "logs": 0}
KEEPER_IDLE_S = 86400
SHIM_PREFIX = "containerd-shim"


@dataclass
class Attached:
    """A process the driver is attached to: a container's probe, or an exec of the probe."""

    container_id: str
    name: str
    sock: Any = None  # the hijacked connection: stdin out, multiplexed stdout/stderr in
    exec_id: str | None = None
    exit_code: int | None = None


# --- the driver ----------------------------------------------------------------------


class DockerDriver(Driver[DockerOptions, Attached]):
    kind = "docker"
    Options = DockerOptions
    variant_option = ("runtime", RUNTIMES)
    host_parts = ("workload", "sentry", "gofer", "shim")
    engine_processes = ("dockerd", "containerd")
    runs_commands = True

    def __init__(self, name: str, options: DockerOptions, context: RunContext) -> None:
        super().__init__(name, options, context)
        self._api: Any = None
        self._image: str | None = None
        self._keeper: str | None = None  # the shared container of exec mode
        self.applied: dict[str, int | None] = {}
        self._probe: Path | None = None
        self.command_images: dict[str, str] = {}  # workload -> its image tag
        self.registry = registry.Lease(context)  # the run's registry, for pull cold or warm
        self.published: dict[str, dict[str, Any]] = {}  # registry image -> its metadata
        self._pulling = threading.Lock()  # one cold pull at a time

    @classmethod
    def unavailable_reason(cls, options: DockerOptions) -> str | None:
        if options.pull != "never" and (missing := registry.unavailable()):
            return f"pull: {options.pull} starts from a registry on loopback, and {missing}"
        if options.pull != "never" and options.mode == "exec":
            return f"pull: {options.pull} starts a container from the image: it needs mode fresh"
        if options.pull != "never" and not is_local(options.endpoint):
            return (f"pull: {options.pull} needs dockerd on this host: it pulls from a registry "
                    "on this host's loopback")
        try:
            api = connect(options.endpoint)
        except RuntimeUnavailable as error:
            return str(error)
        try:
            return runtime_missing(api, options.runtime, options.endpoint)
        except InstanceError as error:
            return str(error)
        finally:
            api.close()

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = connect(self.options.endpoint)
        return self._api

    @property
    def image(self) -> str:
        if self._image is None:
            raise InstanceError("the docker driver was used before prepare() built its image")
        return self._image

    def prepare(self, probe: Path) -> None:
        self._probe = probe
        self._check_runtime()
        with engine_step("look up or build the probe image"):
            self._image = ensure_image(self.api, probe)
        self.applied = self._applied_limits()
        if self.options.mode == "exec":
            self._keeper = self._start_keeper()
        if self.options.pull != "never":
            self._image = self._publish("probe", probe, None)

    def prepare_commands(self, commands: Mapping[str, PackagedCommand]) -> None:
        """An image per tree: FROM scratch with the tree's files and the probe, or the
        workload's own image plus the probe; content-addressed tags, built once."""
        if self._probe is None:
            raise InstanceError("the docker driver was not prepared: call prepare(probe) first")
        if self.options.mode == "exec" and commands:
            raise RuntimeUnavailable("docker mode exec runs the probe in one shared container: "
                                     "command workloads need mode fresh")
        self.cells.set(commands)
        for name, packaged in commands.items():
            if self.options.pull != "never":
                self.command_images[name] = self._publish(f"workload-{name}", self._probe,
                                                          packaged.tree)
                continue
            with engine_step(f"look up or build the image of workload {name}"):
                self.command_images[name] = ensure_tree_image(self.api, packaged.tree, self._probe)

    def _publish(self, what: str, probe: Path, tree: Tree | None) -> str:
        """The image a pulling runtime starts from: built with a layer of its own, pushed to
        the run's registry and removed here (pull.py); a warm runtime pulls it back once."""
        if tree is not None and tree.image_id is not None:
            raise RuntimeUnavailable(f"pull: {self.options.pull} starts from an image bench "
                                     "builds from host files; an image workload's layers are the "
                                     "local image's, which a pull would find present")
        name = self.resource_name(what)
        reference = f"{self.registry.address()}/{name}:{probe_digest(probe)}"
        labels = {RUN_LABEL: self.context.run_id, IMAGE_LABEL: probe_digest(probe)}
        self.published[reference] = {}
        self.published[reference] = publish(self.api, reference, probe, name.encode() + b"\n",
                                            tree, labels)
        if self.options.pull == "warm":
            timed_pull(self.api, reference)  # outside every measurement: present from now on
        return reference

    def _check_runtime(self) -> None:
        missing = runtime_missing(self.api, self.options.runtime, self.options.endpoint)
        if missing:
            raise RuntimeUnavailable(missing)

    def _applied_limits(self) -> dict[str, int | None]:
        """What the engine holds for these options, read back from a container created with
        them (never started) and removed; refused when it differs from what was asked."""
        name = self.resource_name("limits")
        container_id = self._create(name, ["ready"])
        try:
            with engine_step(f"inspect container {name}"):
                host = self.api.inspect_container(container_id).get("HostConfig") or {}
        finally:
            remove_container(self.api, container_id, name)
        pids = host.get("PidsLimit")
        applied = {"memory_limit_applied": host.get("Memory") or None,  # 0: no limit
                   "memory_swap_applied": host.get("MemorySwap") or None,
                   "pids_limit_applied": pids if pids and pids > 0 else None}  # 0, -1: none
        memory = int(self.options.memory_limit or 0) or None
        asked = {"memory_limit_applied": memory, "memory_swap_applied": memory,
                 "pids_limit_applied": self.options.pids_limit}
        # -1: dockerd dropped the swap limit because this kernel accounts no swap; then, as
        # for every driver there, the limit bounds memory only (recorded as -1)
        refused = [key for key, value in asked.items() if applied[key] != value
                   and not (key == "memory_swap_applied" and applied[key] == -1)]
        if refused:
            raise RuntimeUnavailable(f"dockerd holds limits {applied} where {asked} were asked")
        return applied

    def _labels(self, name: str) -> dict[str, str]:
        return {RUN_LABEL: self.context.run_id, INSTANCE_LABEL: name}

    def _host_config(self, scratch: Path | None = None) -> Any:
        """Network none, the runtime, and the limits: memory with no swap, as every driver's
        (dockerd's default lets a container swap as much again as its memory limit)."""
        options = self.options
        memory = int(options.memory_limit) if options.memory_limit else None
        return self.api.create_host_config(
            network_mode="none", runtime=options.runtime,
            security_opt=["seccomp=unconfined"] if options.seccomp == "unconfined" else None,
            mem_limit=memory, memswap_limit=memory,  # memory plus swap = memory: no swap
            pids_limit=options.pids_limit, cpuset_cpus=options.cpus,
            binds={str(scratch): {"bind": SCRATCH_MOUNT, "mode": "rw"}} if scratch else None)

    def _create(self, name: str, argv: list[str], image: str | None = None,
                scratch: Path | None = None) -> str:
        with engine_step(f"create container {name}"):
            created = self.api.create_container(image or self.image, command=argv, name=name,
                                                labels=self._labels(name), stdin_open=True,
                                                host_config=self._host_config(scratch))
        container_id: str = created["Id"]
        return container_id

    def _start_keeper(self) -> str:
        """Exec mode: the container every instance execs into; its stdin stays open, unread."""
        name = self._keeper_name()
        container_id = self._create(name, ["ready", f"idle={KEEPER_IDLE_S}"])
        self._keeper = container_id
        with engine_step(f"start container {name}"):
            self.api.start(container_id)
        return container_id

    def _keeper_name(self) -> str:
        return self.resource_name("exec")

    # --- launch ---------------------------------------------------------------------

    def start(self, command: ProbeCommand, deadline_ns: int) -> Instance[Attached]:
        """A cold start pulls its image first, apart from boot: removed (outside every clock),
        then pulled and timed (pull.*); boot's clock starts once the pull is done."""
        if self.options.pull != "cold":
            return super().start(command, deadline_ns)
        reference = self.command_images[command.workload] if command.workload else self.image
        with self._pulling:
            remove_image(self.api, reference)
            pulled = timed_pull(self.api, reference)
        instance = super().start(command, deadline_ns)
        instance.pull_phases = pulled
        return instance

    def launch(self, instance: Instance[Attached], command: ProbeCommand) -> None:
        if self.options.mode == "exec":
            self._launch_exec(instance, command)
        else:
            self._launch_container(instance, command)

    def _launch_container(self, instance: Instance[Attached], command: ProbeCommand) -> None:
        argv, image, scratch = command.argv(), None, None
        if command.workload is not None:
            spec = self.cells.get(command.workload).spec
            image = self.command_images[command.workload]
            scratch = self.cells.make_scratch(instance.name, spec)
            argv += ["--", *spec.lines(cwd=SCRATCH_MOUNT if scratch else None)]
        handle = instance.handle = Attached(self._create(instance.name, argv, image, scratch),
                                            instance.name)
        instance.mark("create")
        with engine_step(f"attach to container {instance.name}"):
            handle.sock = self.api.attach_socket(handle.container_id, params=ATTACH)
        self._follow(instance, handle)
        instance.mark("attach")
        with engine_step(f"start container {instance.name}"):
            self.api.start(handle.container_id)
        instance.mark("start")

    def _launch_exec(self, instance: Instance[Attached], command: ProbeCommand) -> None:
        keeper = self._keeper or self._start_keeper()
        with engine_step(f"create an exec in container {keeper[:12]}"):
            created = self.api.exec_create(keeper, ["/probe", *command.argv()], stdin=True,
                                           stdout=True, stderr=True)
        handle = instance.handle = Attached(keeper, instance.name, exec_id=created["Id"])
        instance.mark("exec_create")
        with engine_step(f"start exec {instance.name}"):
            handle.sock = self.api.exec_start(handle.exec_id, socket=True)
        self._follow(instance, handle)
        instance.mark("exec_start")

    def _follow(self, instance: Instance[Attached], handle: Attached) -> None:
        sock = handle.sock
        instance.output.follow(lambda: output_chunks(sock), instance.name)

    def exit_cause(self, instance: Instance[Attached]) -> ExitCause | None:
        """How a container or exec whose output ended left: OOM-killed, or its status."""
        handle = instance.handle
        if handle is None or not instance.output.closed:
            return None
        if not self._wait_exit(handle, self.grace_seconds) or handle.exit_code is None:
            return None
        if handle.exec_id is None and self._oom_killed(handle):
            return ExitCause(status=handle.exit_code, oom=True, limit="the container's memory limit")
        return ExitCause.from_wait_status(handle.exit_code)

    def _oom_killed(self, handle: Attached) -> bool:
        from docker.errors import DockerException

        try:
            return bool(self.api.inspect_container(handle.container_id)["State"].get("OOMKilled"))
        except DockerException:
            return False

    # --- stop -----------------------------------------------------------------------

    def teardown(self, instance: Instance[Attached]) -> None:
        handle = instance.handle
        if handle is None:
            return
        steps: tuple[Callable[[], None], ...] = (
            lambda: close_stdin(handle.sock) if handle.sock is not None else None,
            lambda: self._signal(handle, signal.SIGTERM),
            lambda: self._signal(handle, signal.SIGKILL))
        try:
            for step in steps:
                step()
                if self._wait_exit(handle, self.grace_seconds):
                    break
            instance.mark_stop("exit")
            if handle.exec_id is None:
                remove_container(self.api, handle.container_id, handle.name)
                instance.mark_stop("remove")
        finally:
            if handle.sock is not None:
                close_connection(handle.sock)

    def _signal(self, handle: Attached, signum: signal.Signals) -> None:
        from docker.errors import DockerException

        try:
            if handle.exec_id is None:
                self.api.kill(handle.container_id, signal=signum.name)
            elif (state := self._exec_state(handle))["Running"] and int(state["Pid"]) > 0:
                os.kill(int(state["Pid"]), signum)  # only while running: a pid can be reused
        except (DockerException, OSError):
            pass  # it left already; the wait that follows tells

    def _wait_exit(self, handle: Attached, seconds: float) -> bool:
        """True once the process has exited (its status in handle.exit_code)."""
        from docker.errors import DockerException, NotFound
        from requests.exceptions import RequestException

        try:
            if handle.exec_id is not None:
                return self._wait_exec(handle, seconds)
            handle.exit_code = self.api.wait(handle.container_id, timeout=seconds)["StatusCode"]
            return True
        except NotFound:
            return True
        except (DockerException, RequestException):
            return False

    def _wait_exec(self, handle: Attached, seconds: float) -> bool:
        deadline = time.monotonic_ns() + int(seconds * 1e9)
        while (state := self._exec_state(handle))["Running"]:
            if time.monotonic_ns() >= deadline:
                return False
            time.sleep(0.01)
        handle.exit_code = state["ExitCode"]
        return True

    def _exec_state(self, handle: Attached) -> dict[str, Any]:
        state: dict[str, Any] = self.api.exec_inspect(handle.exec_id)
        return state

    def close(self) -> None:
        try:
            if self._keeper is not None:
                remove_container(self.api, self._keeper, self._keeper_name())
                self._keeper = None
            while self.published:
                remove_image(self.api, self.published.popitem()[0])
        finally:
            self.registry.release()
            if self._api is not None:
                self._api.close()
                self._api = None

    # --- measure --------------------------------------------------------------------

    def memory(self, instance: Instance[Attached]) -> MemoryReading:
        handle = instance.held()
        pid = self._workload_pid(handle)
        shim = parent_pid(pid)
        if not process_name(shim).startswith(SHIM_PREFIX):
            raise InstanceError(f"the parent of {handle.name}'s probe (pid {pid}) is "
                                f"{process_name(shim)!r}, not a containerd shim")
        # a fresh container's cgroup holds all of it (gVisor's Sentry, Gofer and stubs too);
        # an exec shares its container with the keeper, so only the exec's own process counts
        found = container_memory(self.options.runtime, pid, ("shim", shim),
                                 whole_cgroup=handle.exec_id is None)
        charge = found.charge if found.charge is not None else self._stats_charge(handle)
        return MemoryReading(host_pss=sum(found.parts.values()), cgroup=charge,
                             host_parts=found.parts)

    def usage(self, instance: Instance[Attached]) -> Usage:
        """The probe's process tree (the same accounting as process and native) and the
        container cgroup's peak charge."""
        pid = self._workload_pid(instance.held())
        charge = memory_cgroup_file(pid)
        peak = None if charge is None else charge.with_name(
            "memory.max_usage_in_bytes" if charge.name == "memory.usage_in_bytes" else "memory.peak")
        return Usage(cpu_ns=process_cpu_ns(pid), cpu_resolution_ns=TICK_NS,
                     cpu_source="the probe's process tree (/proc/PID/stat)",
                     peak_bytes=read_int(peak) if peak is not None and peak.exists() else None,
                     peak_source="the container cgroup's peak charge")

    def _workload_pid(self, handle: Attached) -> int:
        """The probe's host pid. dockerd records an exec's pid only once containerd returns,
        which can be after the probe has already spoken: wait for it a moment."""
        deadline = time.monotonic_ns() + int(self.grace_seconds * 1e9)
        while (pid := self._recorded_pid(handle)) <= 0:
            if time.monotonic_ns() >= deadline:
                raise InstanceError(f"{handle.name} is not running (dockerd gives no host pid)")
            time.sleep(0.01)
        return pid

    def _recorded_pid(self, handle: Attached) -> int:
        with engine_step(f"inspect {handle.name}"):
            if handle.exec_id is not None:
                return int(self._exec_state(handle)["Pid"])
            return int(self.api.inspect_container(handle.container_id)["State"]["Pid"])

    def _stats_charge(self, handle: Attached) -> int:
        """The container's cgroup charge from the stats API (slower), where this host shows
        no cgroup file for it."""
        with engine_step(f"read the stats of {handle.name}"):
            stats = self.api.stats(handle.container_id, stream=False, one_shot=True)
        usage = (stats.get("memory_stats") or {}).get("usage")
        if not usage:
            raise InstanceError(f"dockerd reports no memory usage for {handle.name}")
        return int(usage)

    def fingerprint(self) -> dict[str, Any]:
        with engine_step("read docker version and info"):
            version, info = self.api.version(), self.api.info()
        components = {c.get("Name"): c.get("Version") for c in version.get("Components") or []}
        security = info.get("SecurityOptions") or []
        runtime = self.options.runtime
        runtime_path = ((info.get("Runtimes") or {}).get(runtime) or {}).get("path")
        return {
            "driver": self.kind, "mode": self.options.mode,
            "endpoint": self.options.endpoint or DEFAULT_ENDPOINT,
            "engine_version": version.get("Version"), "api_version": version.get("ApiVersion"),
            "client_api_version": self.api.api_version,
            "containerd_version": components.get("containerd"),
            "storage_driver": info.get("Driver"), "logging_driver": info.get("LoggingDriver"),
            "cgroup_driver": info.get("CgroupDriver"), "cgroup_version": info.get("CgroupVersion"),
            "default_runtime": info.get("DefaultRuntime"), "runtime": runtime,
            "runtime_path": runtime_path,
            "runtime_version": components.get(runtime) or self._local_runtime_version(runtime_path),
            "seccomp": self.options.seccomp,
            "engine_seccomp": next((s for s in security if "name=seccomp" in s), None),
            "memory_limit": int(self.options.memory_limit) if self.options.memory_limit else None,
            "pids_limit": self.options.pids_limit,
            "cpus": self.options.cpus, "pinning": "cpuset" if self.options.cpus else None,
            **self.applied,  # read back from the engine at prepare(): what it holds
            "image": self._image_facts(),
            "workload_images": dict(self.command_images),
            "pull": self.options.pull,
            "registry": self._registry_facts(),
            **scratch_fingerprint(self.cells, "a host directory bind-mounted at /scratch (rw)"),
        }

    def _image_facts(self) -> dict[str, Any] | None:
        """The image instances start from: as inspected when it was pushed, for a pulling
        runtime (a cold one's is absent between instances), else as inspected now."""
        if self._image is None:
            return None
        return self.published.get(self._image) or image_metadata(self.api, self._image)

    def _registry_facts(self) -> dict[str, str] | None:
        if self.registry.held is None:
            return None
        binary = find_tool(registry.BINARY)
        return {"address": self.registry.held.address, "server": tool_version(str(binary)) if binary
                else "unknown", "transport": "http on loopback (dockerd trusts 127.0.0.0/8)"}

    def _local_runtime_version(self, path: str | None) -> str | None:
        """The version line of the runtime's binary at the path dockerd gives, when dockerd
        is on this host (its own version output names runc only)."""
        local = is_local(self.options.endpoint)
        return tool_version(path) if local and path and Path(path).exists() else None

    @classmethod
    def endpoint(cls, options: DockerOptions) -> str | None:
        return options.endpoint or DEFAULT_ENDPOINT

    @classmethod
    def clean(cls, options: DockerOptions, run_id: str | None, dry_run: bool) -> list[str]:
        try:
            api = connect(options.endpoint)
        except RuntimeUnavailable:
            return []  # no daemon there: nothing it could be keeping
        try:
            return (remove_labelled(api, run_id, dry_run, options.endpoint)
                    + remove_labelled_images(api, run_id, dry_run, options.endpoint))
        finally:
            api.close()
