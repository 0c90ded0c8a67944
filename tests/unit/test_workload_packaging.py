"""Packaging a command workload: the loader's closure (against ldd), trees kept in the shape
the host has, content addressing, safe unpacking of an image export, guest modules, and
the spec the probe reads."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from bench.config import parse_config
from bench.workload.elf import Resolver, executable_closure
from bench.workload.host_tree import find_program, host_entries
from bench.workload.image_tree import unpack
from bench.workload.package import PreparedWorkload, check_runtime, command_spec
from bench.workload.spec import CommandWorkload
from bench.workload.tree import Collector, cached_tree, tree_digest, with_mount_points
from foundation.errors import ConfigError, WorkloadError
from runtimes.commands import CommandSpec, Readiness, Scratch
from runtimes.guest.initramfs import probe_entries, with_files
from runtimes.guest.modules import load_order, parse_dep
from tests.conftest import require


def ldd(path: str) -> set[str]:
    """What glibc's own ldd says the program loads: the independent reference."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=30).stdout
    found = set()
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) > 2 and parts[2].startswith("/"):
            found.add(os.path.realpath(parts[2]))
        elif parts and parts[0].startswith("/"):
            found.add(os.path.realpath(parts[0]))
    return found


@pytest.mark.parametrize("program", ["ls", "bash", "sysbench", "fio", "redis-server"])
def test_closure_is_what_ldd_loads(program: str) -> None:
    path = shutil.which(program)
    require(path is not None, f"{program} (.ci/host-setup installs it)")  # a failure in CI
    assert path is not None
    mine = {os.path.realpath(p) for p in list(executable_closure(path, Resolver()))[1:]}
    assert mine == ldd(path)


def test_unresolvable_library_names_the_object_and_the_search() -> None:
    resolver = Resolver()
    resolver.system = ("/nonexistent",)
    with pytest.raises(WorkloadError, match=r"the library lib\S+ needed by \S+/ls cannot be resolved "
                                            r"\(searched /nonexistent\)"):
        resolver.closure(str(shutil.which("ls")))


def test_program_not_found() -> None:
    with pytest.raises(WorkloadError, match="command not found: 'no-such-tool' is not on PATH"):
        find_program("no-such-tool", "/usr/bin:/bin", "workloads.x")
    with pytest.raises(WorkloadError, match="name a program by absolute path"):
        find_program("bin/ls", "/usr/bin", "workloads.x")


def test_links_on_the_way_stay_links(tmp_path: Path) -> None:
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "libx.so.1.2").write_bytes(b"x")
    (tmp_path / "usr" / "lib" / "libx.so.1").symlink_to("libx.so.1.2")
    (tmp_path / "lib").symlink_to("usr/lib")
    collector = Collector()
    collector.add_path(str(tmp_path / "lib" / "libx.so.1"))
    kinds = {Path(e.path).relative_to(str(tmp_path).lstrip("/")).as_posix(): (e.kind, e.target)
             for e in collector.entries.values() if e.path.startswith(str(tmp_path).lstrip("/") + "/")}
    assert kinds == {"lib": ("link", "usr/lib"), "usr": ("dir", ""), "usr/lib": ("dir", ""),
                     "usr/lib/libx.so.1": ("link", "libx.so.1.2"),
                     "usr/lib/libx.so.1.2": ("file", "")}


def test_tree_is_content_addressed_and_cached(tmp_path: Path) -> None:
    source = tmp_path / "prog"
    source.write_bytes(b"one")
    collector = Collector()
    collector.add_path(str(source))
    entries = with_mount_points(collector.entries.values())
    tree, manifest = cached_tree(tmp_path / "cache", entries, {"source": "host"})
    assert (tree.root / str(source).lstrip("/")).read_bytes() == b"one"
    assert {"proc", "dev", "tmp", "scratch"} <= {p.name for p in tree.root.iterdir()}
    assert manifest["files"] == 1 and manifest["bytes"] == 3
    again, _ = cached_tree(tmp_path / "cache", entries, {"source": "host"})
    assert again == tree
    source.write_bytes(b"two")
    changed = Collector()
    changed.add_path(str(source))
    assert tree_digest(with_mount_points(changed.entries.values())) != tree.digest


def workload(**fields: object) -> CommandWorkload:
    return CommandWorkload.model_validate({"mode": "command", **fields})


def test_host_entries_hold_the_program_and_its_loader() -> None:
    entries = {e.path for e in host_entries(workload(argv=["ls", "-l"]), "workloads.w")}
    ls = str(shutil.which("ls", path="/usr/bin:/bin")).lstrip("/")
    assert ls in entries or "bin" in entries  # /bin is a link to usr/bin on merged-/usr hosts
    assert any(p.endswith("libc.so.6") for p in entries)
    assert any("ld-linux" in p for p in entries)


def tar_of(members: list[tuple[tarfile.TarInfo, bytes]]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    buffer.seek(0)
    return buffer


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o4755
    return info


def test_unpack_keeps_links_and_drops_setuid(tmp_path: Path) -> None:
    unpack(tar_of([(member("usr/bin/tool"), b"x"), (member("bin", tarfile.SYMTYPE, "usr/bin"), b""),
                   (member("usr/bin/same", tarfile.LNKTYPE, "usr/bin/tool"), b""),
                   (member("dev/null", tarfile.CHRTYPE), b"")]), tmp_path / "root")
    root = tmp_path / "root"
    assert (root / "bin" / "tool").read_bytes() == b"x"
    assert os.readlink(root / "bin") == "usr/bin"
    assert (root / "usr/bin/same").stat().st_ino == (root / "usr/bin/tool").stat().st_ino
    assert (root / "usr/bin/tool").stat().st_mode & 0o7777 == 0o755
    assert not (root / "dev" / "null").exists()


@pytest.mark.parametrize("members", [
    [(member("../escape"), b"x")],
    [(member("lib", tarfile.SYMTYPE, "/etc"), b""), (member("lib/passwd"), b"x")],
    [(member("hard", tarfile.LNKTYPE, "missing"), b"")],
])
def test_unpack_refuses_what_would_leave_the_tree(
        tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with pytest.raises(WorkloadError):
        unpack(tar_of(members), tmp_path / "root")
    assert not Path("/etc/passwd").read_bytes().startswith(b"x")


def test_spec_lines() -> None:
    spec = CommandSpec(argv=("fio", "--name=a b"), env=(("PATH", "/usr/bin"),),
                       background=("redis-server",), background_port=6379,
                       readiness=Readiness(port=6379, send="PING\r\n", expect="+PONG"),
                       timeout_s=30)
    assert spec.lines(cwd="/scratch", extra={"root": "/tree"}) == [
        "arg=fio", "arg=--name=a b", "env=PATH=/usr/bin", "bg=redis-server", "bg_port=6379",
        "ready_port=6379", "ready_send_hex=50494e470d0a", "ready_expect=+PONG", "timeout=30",
        "cwd=/scratch", "root=/tree"]


def prepared(item: CommandWorkload, tmp_path: Path) -> PreparedWorkload:
    from runtimes.commands import Tree
    return PreparedWorkload("w", item, Tree(tmp_path, "d"), {}, (("PATH", "/bin"),), item.argv)


def test_override_and_scratch_per_runtime(tmp_path: Path) -> None:
    item = workload(argv=["sysbench", "cpu", "run"], scratch={"size": "64MiB", "cache": "writeback"},
                    overrides={"slow": {"argv": ["sysbench", "cpu", "--time=1", "run"], "timeout": 9}})
    plain, slow = (command_spec(prepared(item, tmp_path), r, tmp_path) for r in ("fast", "slow"))
    assert plain.argv == ("sysbench", "cpu", "run") and plain.timeout_s == 300
    assert slow.argv == ("sysbench", "cpu", "--time=1", "run") and slow.timeout_s == 9
    assert slow.scratch is not None and slow.scratch.size == 64 << 20
    assert slow.scratch.cache == "writeback" and slow.scratch.host_dir == tmp_path


def test_readiness_and_scratch_are_one_type_from_the_config_to_the_driver(tmp_path: Path) -> None:
    """Issue 22: one definition (runtimes.commands), not a config model and a hand-kept copy."""
    item = workload(argv=["redis-server"], scratch={"size": "64MiB"},
                    readiness={"port": 6379, "send": "PING\r\n", "expect": "+PONG"})
    assert type(item.readiness) is Readiness and type(item.scratch) is Scratch
    spec = command_spec(prepared(item, tmp_path), "native", tmp_path / "work")
    assert spec.readiness is item.readiness
    assert spec.scratch == Scratch(size=64 << 20, dir=tmp_path / "work", cache="none")
    assert "ready_send_hex=50494e470d0a" in spec.lines(cwd=None)
    placed = workload(argv=["x"], scratch={"dir": str(tmp_path / "mine")}).scratch
    assert placed is not None and placed.placed(tmp_path).host_dir == tmp_path / "mine"
    with pytest.raises(ConfigError, match="before the run placed it"):
        Scratch().host_dir  # noqa: B018 (the property is the test)


def test_runtime_pairing_is_refused_before_anything_starts(tmp_path: Path) -> None:
    image = prepared(workload(image="mine:1", argv=["x"]), tmp_path)
    with pytest.raises(WorkloadError, match="runs host programs in place"):
        check_runtime(image, "process", "process", True)
    with pytest.raises(WorkloadError, match="cannot run command workloads yet"):
        check_runtime(image, "lxc", "lxc", False)
    check_runtime(image, "native", "native", True)


BASE = {"runtimes": {"p": {"driver": "process"}}}


@pytest.mark.parametrize(("command", "message"), [
    ({"argv": ["a\nb"]}, "argument cannot hold a newline"),
    ({}, "argv is required"),
    ({"argv": ["x"], "image": "i", "files": ["/etc/hosts"]}, "an image brings its own files"),
    ({"argv": ["x"], "readiness": {"port": 1, "line": "up"}}, "give either port or line"),
    ({"argv": ["x"], "readiness": {"line": "up", "send": "x"}}, "send and expect go with port"),
    ({"argv": ["x"], "metrics": [{"name": "t", "regex": "took", "direction": "lower"}]},
     "needs a group"),
    ({"argv": ["x"], "metrics": [{"name": "t", "regex": "(", "direction": "lower"}]},
     "not a regular expression"),
    ({"argv": ["x"], "runtimes": ["nope"]}, "workloads.w.runtimes: 'nope' is not one of"),
    ({"argv": ["x"], "overrides": {"nope": {"timeout": 1}}}, "workloads.w.overrides: 'nope'"),
    ({"argv": ["x"], "parser": "ab"}, "workloads.w.parser"),
    ({"argv": ["x"], "timeout": 18446744074}, "workloads.w.timeout: .*less than or equal to 604800"),
    ({"argv": ["x"], "timeout": float("inf")}, "workloads.w.timeout"),
    ({"argv": ["x"], "overrides": {"p": {"timeout": 1e12}}}, "overrides.p.timeout"),
    ({"argv": ["x"], "readiness": {"port": 1, "expect": "+OK\nready_line=x"}},
     r"readiness.expect: .*control characters \(0x0a\)"),
    ({"argv": ["x"], "readiness": {"port": 1, "expect": "a\x1b[2J"}}, "control characters"),
])
def test_command_config_errors_name_the_key(command: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({**BASE, "workloads": {"w": {"mode": "command", **command}}})


def test_shipped_workloads_config_loads() -> None:
    from bench.config import load_config
    config = load_config(Path(__file__).parents[2] / "configs" / "workloads.yaml")
    assert set(config.workloads) == {"cpu", "memory", "disk", "net", "server"}
    assert set(config.runtimes) == {"process", "native", "docker", "libvirt"}


def test_guest_modules_load_after_what_they_need() -> None:
    table = parse_dep("kernel/a/virtio.ko: kernel/a/ring.ko\nkernel/a/ring.ko:\n"
                      "kernel/b/blk.ko: kernel/a/virtio.ko kernel/a/ring.ko\n")
    assert load_order(("virtio", "blk", "ext4"), table, {"ext4"}) == [
        "kernel/a/ring.ko", "kernel/a/virtio.ko", "kernel/b/blk.ko"]


def test_initramfs_gets_parents_before_files() -> None:
    names = [e.name for e in with_files(probe_entries(b"p"), {"bench/w.spec": b"arg=x"}, ["tree"])]
    assert names.index("bench") < names.index("bench/w.spec") and "tree" in names


def test_scratch_of_a_killed_run_is_swept_from_its_own_dir(tmp_path: Path) -> None:
    from runtimes.commands import sweep_scratch

    (tmp_path / "bench-abc123-native-1-scratch").mkdir()
    (tmp_path / "bench-abc123-libvirt-2-scratch.ext4").write_bytes(b"")
    (tmp_path / "bench-fff000-native-1-scratch").mkdir()
    (tmp_path / "mine").mkdir()
    assert len(sweep_scratch(tmp_path, "bench-abc123-", dry_run=True)) == 2
    assert sorted(line.split("/")[-1] for line in sweep_scratch(tmp_path, "bench-abc123-", False)) == [
        "bench-abc123-libvirt-2-scratch.ext4", "bench-abc123-native-1-scratch"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench-fff000-native-1-scratch", "mine"]


@pytest.mark.parametrize(("row", "refused"), [
    ({"path": "tmp/tool", "kind": "file", "size": 10}, True),
    ({"path": "tmp/empty", "kind": "file", "size": 0}, True),
    ({"path": "dev/sda-image", "kind": "file", "size": 4096}, True),
    ({"path": "proc/link", "kind": "link", "size": 0, "target": "/x"}, True),
    ({"path": "tmp", "kind": "dir", "size": 0}, False),
    ({"path": "tmp/.X11-unix", "kind": "dir", "size": 0}, False),
    ({"path": "dev/console", "kind": "file", "size": 0}, False),  # docker export's placeholder
    ({"path": "opt/tmp/tool", "kind": "file", "size": 10}, False),
])
def test_files_where_runtimes_mount_over_the_tree_are_refused(row: dict[str, object],
                                                              refused: bool) -> None:
    """Issue 20 point 11: a program under /tmp ran on the process runtime and failed at exec
    time in native (its own tmpfs over /tmp): refused before the run, in one line."""
    from bench.workload.package import refuse_hidden

    manifest = {"entries": [{"path": "bin/sh", "kind": "file", "size": 1}, row]}
    if not refused:
        refuse_hidden(manifest, "workloads.w")
        return
    with pytest.raises(WorkloadError, match=rf"workloads.w: /{row['path']} would be hidden"):
        refuse_hidden(manifest, "workloads.w")


def test_a_spec_line_cannot_carry_a_newline_whoever_built_it() -> None:
    with pytest.raises(ConfigError, match="newline or NUL"):
        CommandSpec(argv=("x",), readiness=Readiness(port=1, expect="a\nroot=/")).lines(cwd=None)
