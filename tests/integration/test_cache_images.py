"""`bench cache list|prune` against the real engines: bench's images in docker and podman,
kept while a live run's ledger names what they were built from, removed by age otherwise.

Other people's runs share these engines, so the tests touch only an image of their own:
loaded from an archive that says it was built in 2001, pruned with --older-than 3650 days
(no image bench builds today is that old). Never `--unused` against a shared engine.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.cache import default_cache_dir
from bench.cache.ledger import hold
from bench.cli import main
from tests.conftest import require

pytestmark = pytest.mark.integration
BUILT = "2001-01-01T00:00:00Z"


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ancient_image(reference: str, labels: dict[str, str]) -> bytes:
    """A docker-archive (what `docker save` writes) of a one-file image built in 2001."""
    layer = tar_of({"probe": b"#!/bin/true\n"})
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": BUILT,
        "config": {"Labels": labels, "Entrypoint": ["/probe"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
        "history": [{"created": BUILT}]}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": [reference],
                            "Layers": ["layer/layer.tar"]}]).encode()
    return tar_of({"manifest.json": manifest, "config.json": config, "layer/layer.tar": layer})


def load(engine: str, archive: Path) -> None:
    subprocess.run([engine, "load", "-i", str(archive)], check=True, capture_output=True,
                   timeout=120)


def present(engine: str, reference: str) -> bool:
    return subprocess.run([engine, "image", "inspect", reference], capture_output=True,
                          timeout=60).returncode == 0


@pytest.fixture(params=["docker", "podman"])
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    found = subprocess.run([name, "version"], capture_output=True, timeout=60).returncode == 0
    require(found, f"{name} (its daemon running, for docker)")
    return name


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    yield default_cache_dir()


def test_an_old_image_goes_unless_a_live_run_uses_it(engine: str, own_cache: Path,
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    tree, probe = secrets.token_hex(8), secrets.token_hex(8)
    tag = f"bench-workload:test{secrets.token_hex(6)}"
    reference = tag if engine == "docker" else f"localhost/{tag}"
    archive = tmp_path / "image.tar"
    archive.write_bytes(ancient_image(tag, {"bench.probe": probe, "bench.tree": tree}))
    load(engine, archive)
    try:
        assert main(["cache", "list", "--json"]) == 0
        images = {image["reference"]: image for image in json.loads(capsys.readouterr().out)["images"]}
        assert images[reference]["engine"] == engine and images[reference]["tree"] == tree
        assert images[reference]["in_use"] is None
        held = hold(own_cache, "feed01", trees=[tree], probe=None, probe_digest=probe,
                    scratch_dirs=[], results=None)
        try:
            assert main(["cache", "prune", "--older-than", "3650"]) == 0
            assert f"{engine} image {reference}" not in capsys.readouterr().out
            assert present(engine, reference)  # a live run's tree and probe: kept
        finally:
            held.release()
        assert main(["cache", "prune", "--older-than", "3650"]) == 0
        assert f"removed {engine} image {reference}" in capsys.readouterr().out
        assert not present(engine, reference)
    finally:
        subprocess.run([engine, "rmi", reference], capture_output=True, timeout=60)
