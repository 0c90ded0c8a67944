"""A cold docker start's pull.total against `docker pull` of the same image from the same
registry on loopback, timed by hyperfine, side by side in one sitting.

- bench: the docker driver with `pull: cold` (runtimes/docker/pull.py): the image removed,
  then pulled through the Engine API, its progress stamped; pull.total is the sum of
  pull.manifest, .layers, .unpack and .image (boot follows, off this figure);
- `docker pull` (the reference): `hyperfine -N` running the CLI on the same reference, with
  `docker rmi` of it as hyperfine's --prepare, so each pull is cold too. The CLI's own start
  and its API handshake are inside that time: they are measured by the same hyperfine as
  `docker image inspect` of the same image (the CLI's floor) and taken off.
Fails when bench's median is more than 1.2x the reference's less the floor: bench's own path
(the SDK, the stream's parsing, the stamps) must not add to what the engine does.
"""

from __future__ import annotations

import shutil
import statistics
from typing import Any

from bench.verify.references import Launches
from bench.workload.bundle import build_bundle
from runtimes.base import instance_prefix
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.docker.image import image_tag
from runtimes.host.registry import unavailable
from tests.benchmarks.sitting import CACHE, READY_ONCE, check_ratio, deadline, side_by_side, sitting
from tests.conftest import require

OPTIONS = DockerOptions(pull="cold")
ROUNDS = 20
WARMUP = 2
BOUND = 1.2  # bench's pull.total over `docker pull` less the CLI's floor


def test_cold_pull_against_docker_pull(benchmark: Any) -> None:
    require(shutil.which("hyperfine") is not None, "hyperfine (apt-get install hyperfine)")
    require(unavailable() is None, "docker-registry (apt-get install docker-registry)")
    with sitting(DockerDriver, OPTIONS, "cp") as context:
        driver = DockerDriver("cold", OPTIONS, context)
        timer = Launches(CACHE, f"{instance_prefix(context.run_id)}hyperfine")
        try:
            probe = build_bundle(CACHE).probe
            driver.prepare(probe)
            reference = driver.image
            docker = shutil.which("docker") or "docker"
            floors: list[float] = []

            def cli_pull() -> float:
                pulled, floor = timer.hyperfine(
                    [[docker, "pull", "-q", reference],
                     [docker, "image", "inspect", "--format", "{{.Id}}", image_tag(probe)]],
                    1, None, prepare=[docker, "rmi", "-f", reference])
                floors.append(floor[0])
                return pulled[0]

            def ours() -> tuple[float, Any]:
                instance = driver.start(READY_ONCE, deadline())
                return sum(instance.pull_phases.values()), lambda: driver.stop(instance)

            pulled, theirs = side_by_side(benchmark, ours, {"docker pull": cli_pull},
                                          rounds=ROUNDS, warmup=WARMUP)
        finally:
            timer.close()
            driver.close()
    floor = statistics.median(floors[WARMUP:])
    benchmark.extra_info["docker CLI floor (image inspect), ms"] = floor
    check_ratio(benchmark, "docker cold pull.total / (docker pull - CLI floor)", pulled,
                [value - floor for value in theirs["docker pull"]], 0.0, BOUND)
