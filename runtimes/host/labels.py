"""The labels every container an engine (dockerd, podman) runs for us carries: the run's id,
so `bench clean` finds what a killed run left, and the instance's name."""

from __future__ import annotations

RUN_LABEL = "bench.run"
INSTANCE_LABEL = "bench.instance"
