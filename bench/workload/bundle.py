"""The workload bundle: the probe compiled from source into the cache, with its content hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from runtimes.host.build import compile_static

WORKLOAD_SOURCE = Path(__file__).parent / "probe.c"


@dataclass(frozen=True)
class Bundle:
    """The probe binary and its content hash (tags images, names initramfs files)."""

    probe: Path
    digest: str


def build_bundle(cache_dir: Path) -> Bundle:
    probe = compile_static(WORKLOAD_SOURCE, cache_dir)
    return Bundle(probe=probe, digest=hashlib.sha256(probe.read_bytes()).hexdigest()[:16])
