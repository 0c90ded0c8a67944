"""Static helpers compiled from C source into a cache: the probe, the launcher, test tools; and
the launcher's library, which bench loads itself.

Built with the system C compiler, statically, so the same file runs as a process, in a
rootfs, in a FROM-scratch image and as a guest's /init (the library: shared, position
independent). A binary is rebuilt when its source, the compiler or the flags change: the
cache key is a hash of all three.

The cache is a place other code could tamper with, and bench runs what it finds there as
root: each binary is stored with the sha256 of its content, checked every time the binary
is handed out (a mismatch rebuilds it). The compiler writes into a private directory
(mode 0700, its own temporary files too), and the binary is renamed into place, so no
fixed-name `.partial` file exists for anyone to plant a link at; a signal during the
compile stops the compiler's whole process group and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

from foundation.errors import BuildError
from foundation.files import private_directory, real_directory, write_atomic
from runtimes.host.tools import tool_version

log = logging.getLogger("bench.runtimes.build")

FLAGS = ("-static", "-O2", "-Wall", "-Wextra", "-Werror")
LIBRARY_FLAGS = ("-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror")
COMPILE_TIMEOUT_S = 300
STOP_GRACE_S = 5


def compiler() -> str:
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    raise BuildError("no C compiler found: install one (Debian: apt-get install gcc libc6-dev)")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_key(source: Path, cc: str, flags: tuple[str, ...] = FLAGS) -> str:
    key = hashlib.sha256()
    key.update(source.read_bytes())
    key.update(tool_version(cc).encode())  # cached: asked once per process
    key.update(" ".join(flags).encode())
    return key.hexdigest()[:16]


def compile_static(source: Path, cache_dir: Path) -> Path:
    """Compile one C file into cache_dir/<name>-<key>/<name>, reusing an earlier build whose
    content still matches the hash recorded beside it."""
    return compile_c(source, cache_dir, FLAGS, source.stem)


def compile_library(source: Path, cache_dir: Path, defines: tuple[str, ...] = ()) -> Path:
    """The same for a shared library, lib<name>.so, built with these -D defines."""
    flags = (*LIBRARY_FLAGS, *(f"-D{name}" for name in defines))
    return compile_c(source, cache_dir, flags, f"lib{source.stem}.so")


def compile_c(source: Path, cache_dir: Path, flags: tuple[str, ...], name: str) -> Path:
    cc = compiler()
    folder = cache_dir / f"{Path(name).stem}-{build_key(source, cc, flags)}"
    target, record = folder / name, folder / f"{name}.sha256"
    if verified(target, record):
        return target
    make_cache_folder(folder)
    with private_directory(folder, ".build-") as scratch:
        output = scratch / name
        run_compiler([cc, *flags, "-o", str(output), str(source)], scratch, source)
        digest = content_hash(output.read_bytes())
        os.chmod(output, 0o755)
        os.replace(output, target)  # atomic: a concurrent run never sees half a binary
        write_atomic(record, f"{digest}\n".encode())
    if not verified(target, record):
        raise BuildError(f"{target} changed while it was being built: build again")
    return target


def verified(target: Path, record: Path) -> bool:
    """Whether the cached binary is there, a regular file, and has the recorded content."""
    try:
        if not stat.S_ISREG(os.lstat(target).st_mode):
            return False
        expected = record.read_text().strip()
        actual = content_hash(target.read_bytes())
    except OSError:
        return False
    if actual != expected:
        log.warning("cache: %s does not match its recorded hash: rebuilding it", target)
    return actual == expected


def make_cache_folder(folder: Path) -> None:
    """The build's folder in the cache: a real directory of ours that no one else may write."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o755)
        info = os.lstat(folder)
    except OSError as error:
        raise BuildError(f"cannot use the cache folder {folder}: {error.strerror}") from error
    if not real_directory(folder) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise BuildError(f"the cache folder {folder} is not a directory of this user that only "
                         "it may write: remove it and run again")


def run_compiler(argv: list[str], scratch: Path, source: Path) -> None:
    """Run the compiler in its own process group, its temporary files in `scratch`; however
    this ends (an error, a timeout, a signal), no compiler process outlives it."""
    log.info("compile: %s", argv)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TMPDIR": str(scratch)}, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=COMPILE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stop_group(process)
        raise BuildError(f"compiling {source.name} took over {COMPILE_TIMEOUT_S} s") from None
    except BaseException:
        stop_group(process)
        raise
    if process.returncode != 0:
        first = (stderr.strip().splitlines() or ["no output"])[0]
        raise BuildError(f"compiling {source.name} failed: {first} (is libc6-dev installed?)")


def stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the compiler's process group (cc1, as, ld too), then SIGKILL what stays."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.communicate(timeout=STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue
