"""Static helpers compiled from C source into a cache: the probe, the native launcher, test tools.

Built with the system C compiler, statically, so the same file runs as a process, in a
rootfs, in a FROM-scratch image and as a guest's /init. A binary is rebuilt when its
source, the compiler or the flags change: the cache key is a hash of all three.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

from runtimes.errors import BuildError

log = logging.getLogger("bench.runtimes.build")

FLAGS = ("-static", "-O2", "-Wall", "-Wextra", "-Werror")


def compiler() -> str:
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    raise BuildError("no C compiler found: install one (Debian: apt-get install gcc libc6-dev)")


def compiler_version(cc: str) -> str:
    result = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    return result.stdout.splitlines()[0] if result.stdout else cc


def compile_static(source: Path, cache_dir: Path) -> Path:
    """Compile one C file into cache_dir/<name>-<hash>/<name>, reusing an earlier build."""
    cc = compiler()
    key = hashlib.sha256()
    key.update(source.read_bytes())
    key.update(compiler_version(cc).encode())
    key.update(" ".join(FLAGS).encode())
    digest = key.hexdigest()[:16]
    target = cache_dir / f"{source.stem}-{digest}" / source.stem
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    argv = [cc, *FLAGS, "-o", str(partial), str(source)]
    log.info("compile: %s", argv)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise BuildError(f"compiling {source.name} failed: {first} (is libc6-dev installed?)")
    partial.rename(target)  # atomic: a concurrent build never sees half a binary
    return target
