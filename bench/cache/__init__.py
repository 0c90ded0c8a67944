"""What bench keeps between runs, and which of it a live run is using.

The build cache (~/.cache/bench by default: workload trees, the probe, launchers, guest
disks and initramfs images) and the images built from it (`bench-workload` and
`bench-probe` in docker and podman) grow with every new probe and workload; `bench cache
list|prune` shows and removes them (bench.cache.actions). A run holds a ledger in the
cache for its whole life (bench.cache.ledger): what it uses, so that nothing it uses is
pruned, and where it puts scratch storage, so that `bench clean --run` finds it after the
run was killed, wherever the config put it.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/bench, else ~/.cache/bench."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bench"
