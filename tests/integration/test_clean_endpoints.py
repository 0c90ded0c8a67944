"""`bench clean` sweeps where a config's runtimes point, not only the default daemon.

A second Docker endpoint is a real unix socket that forwards to the real dockerd (a
relay in this test: a second daemon would be a second engine to install). A container
left behind through it, labelled like a killed run's, must be listed by
`bench clean --config CONFIG --dry-run` under that endpoint, and removed by the real clean.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from bench.cli import main
from bench.running import new_run_id
from bench.workload.bundle import build_bundle
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.docker.engine import connect
from runtimes.docker.image import ensure_image
from runtimes.host.labels import INSTANCE_LABEL, RUN_LABEL
from tests.conftest import require

DOCKER_SOCKET = "/var/run/docker.sock"


def pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def relay(path: Path) -> Iterator[str]:
    """A unix socket at `path` whose every connection is forwarded to dockerd's socket."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(DOCKER_SOCKET)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"unix://{path}"
    finally:
        stop.set()
        server.close()


@pytest.mark.integration
@pytest.mark.docker
def test_clean_lists_an_orphan_on_the_configs_endpoint(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    require(DockerDriver.unavailable_reason(DockerOptions()) is None, "a running dockerd")
    run_id = new_run_id()
    name = f"bench-{run_id}-elsewhere-1"
    with relay(tmp_path / "docker.sock") as endpoint:
        api = connect(endpoint)
        try:
            image = ensure_image(api, build_bundle(tmp_path / "cache").probe)
            api.create_container(image, command=["ready"], name=name,
                                 labels={RUN_LABEL: run_id, INSTANCE_LABEL: name},
                                 host_config=api.create_host_config(network_mode="none"))
            config = tmp_path / "elsewhere.yaml"
            config.write_text(f"runtimes:\n  elsewhere:\n    driver: docker\n    options:\n"
                              f"      endpoint: {endpoint}\nworkloads:\n  idle:\n"
                              f"    mode: ready\n")
            assert main(["clean", "--run", run_id, "--config", str(config), "--dry-run"]) == 0
            listed = capsys.readouterr().out
            assert f"would remove container {name} on {endpoint}" in listed
            assert main(["clean", "--run", run_id, "--config", str(config)]) == 0
            assert api.containers(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}) == []
        finally:
            for container in api.containers(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
                api.remove_container(container["Id"], force=True)
            api.close()
