"""What makes two runs comparable: the host fingerprint hash and the config hash.

The host hash covers what decides performance on a machine: architecture, CPU model, core
count, kernel release, cgroup version and the CPU vulnerability mitigations. The host
name is left out on purpose: two runners of one machine type are one host for comparison
(CI runners often get a new name per job), and the name is still stored and shown. The
accelerator a runtime used (kvm or tcg) is per runtime, so the gate checks it per row.

The config hash covers what decides the measurement: runtimes with their options,
workloads, repetitions, warm-up, timeouts, settle time and the baseline; the description,
the output folder, the gate rules and the history section are left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from bench.results.manifest import Manifest

HOST_KEYS = ("arch", "cpu_model", "cores", "kernel", "cgroup_version", "mitigations")
CONFIG_IGNORED = frozenset({"description", "output", "gate", "history"})
HASH_CHARS = 16


def digest_of(document: Any) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_CHARS]


def host_kind(host: Mapping[str, Any]) -> str:
    """The hash of a host fingerprint's identity keys (HOST_KEYS): a kind of machine."""
    return digest_of({key: host.get(key) for key in HOST_KEYS})


def host_hash(manifest: Manifest) -> str:
    return host_kind(manifest.host)


def config_hash(manifest: Manifest) -> str:
    return digest_of({key: value for key, value in manifest.config.data.items()
                      if key not in CONFIG_IGNORED})


def commit_of(manifest: Manifest) -> str | None:
    """The commit of the config's checkout (with +dirty), else bench's own."""
    commit = manifest.config_commit or manifest.host.get("bench_commit")
    return str(commit) if commit else None


def branch_of(manifest: Manifest) -> str | None:
    """The git branch of the config's checkout, recorded by `bench run` (None when unknown)."""
    return manifest.config_branch or None


def config_name(manifest: Manifest) -> str:
    path = manifest.config_path
    return PurePath(path).stem if path else "?"


def hostname_of(manifest: Manifest) -> str:
    return str(manifest.host.get("hostname") or "?")
