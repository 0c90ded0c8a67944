"""The timed pulls of a cold start, read from each engine's progress (no daemon needed), and
the registry's configuration: loopback only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from foundation.errors import InstanceError
from runtimes.docker import pull as docker_pull
from runtimes.host.registry import config_document
from runtimes.instance import StampedLines
from runtimes.podman import pull as podman_pull

LAYERS = [{"status": "Pulling from bench-1-probe", "id": "abc"},
          {"status": "Pulling fs layer", "id": "l1"}, {"status": "Pulling fs layer", "id": "l2"},
          {"status": "Downloading", "id": "l1"}, {"status": "Download complete", "id": "l1"},
          {"status": "Download complete", "id": "l2"}, {"status": "Extracting", "id": "l1"},
          {"status": "Pull complete", "id": "l1"}, {"status": "Pull complete", "id": "l2"},
          {"status": "Digest: sha256:00"}, {"status": "Status: Downloaded newer image"}]


class PullingApi:
    """The Engine API's pull stream, each event a millisecond after the last."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.asked: tuple[str, str] | None = None

    def pull(self, repository: str, tag: str, stream: bool, decode: bool) -> Iterator[dict[str, Any]]:
        self.asked = (repository, tag)
        for event in self.events:
            time.sleep(0.001)
            yield event


def test_a_docker_pull_is_timed_manifest_layers_unpack_image() -> None:
    api = PullingApi(LAYERS)
    started = time.monotonic_ns()
    phases = docker_pull.timed_pull(api, "127.0.0.1:5000/bench-1-probe:0123")
    took = (time.monotonic_ns() - started) / 1e6
    assert api.asked == ("127.0.0.1:5000/bench-1-probe", "0123")
    assert list(phases) == ["manifest", "layers", "unpack", "image"]
    assert all(ms >= 0 for ms in phases.values()) and sum(phases.values()) <= took
    assert phases["manifest"] >= 2  # two events before the first layer was listed
    assert phases["layers"] >= 3 and phases["unpack"] >= 3  # to the last of each


def test_a_download_complete_the_stream_skipped_ends_at_the_layers_next_event() -> None:
    """dockerd sends a transfer's latest progress only: "Download complete" can be overtaken by
    "Extracting" before it is sent. The layer's download then ends at that layer's next event
    (never at another layer's), and the pull is still timed."""
    skipped = [event for event in LAYERS if event != {"status": "Download complete", "id": "l1"}]
    phases = docker_pull.timed_pull(PullingApi(skipped), "127.0.0.1:5000/bench-1-probe:0123")
    assert list(phases) == ["manifest", "layers", "unpack", "image"]
    # from l1's "Pulling fs layer" (event 2) to l1's "Extracting" (event 6): four events a
    # millisecond or more apart; l2's "Download complete" (event 5) would give three
    assert phases["layers"] >= 4
    assert phases["unpack"] >= 2  # to l2's "Pull complete" (event 8)


@pytest.mark.parametrize(("event", "words"), [
    ({"status": "Already exists", "id": "l1"}, "already here: not a cold start"),
    ({"error": "manifest unknown"}, "could not pull"),
])
def test_a_pull_that_was_not_cold_or_failed_is_an_error(event: dict[str, Any], words: str) -> None:
    with pytest.raises(InstanceError, match=words):
        docker_pull.timed_pull(PullingApi([LAYERS[1], event, *LAYERS[2:]]), "127.0.0.1:1/x:1")


def test_a_pull_that_never_listed_its_layers_is_not_a_number() -> None:
    with pytest.raises(InstanceError, match="never reported manifest, layers, unpack"):
        docker_pull.timed_pull(PullingApi([LAYERS[-1]]), "127.0.0.1:1/x:1")


def podman_lines(*lines: tuple[int, str]) -> StampedLines:
    found = StampedLines()
    for stamp, line in lines:
        found.feed((line + "\n").encode(), stamp)
    found.close()
    return found


def test_a_podman_pull_is_timed_from_its_progress_lines() -> None:
    lines = podman_lines((1_000_000, "Trying to pull 127.0.0.1:1/x:1..."),
                         (5_000_000, "Getting image source signatures"),
                         (6_000_000, "Copying blob sha256:aa"),
                         (9_000_000, "Copying config sha256:bb"),
                         (9_500_000, "Writing manifest to image destination"))
    phases = podman_pull.phases_of(0, lines, 12_000_000, "x")
    assert phases == {"manifest": 5.0, "layers_and_unpack": 4.0, "image": 3.0}
    skipped = podman_lines((1, "Getting image source signatures"),
                           (2, "Copying blob sha256:aa skipped: already exists"),
                           (3, "Copying config sha256:bb"))
    with pytest.raises(InstanceError, match="not a cold start"):
        podman_pull.phases_of(0, skipped, 4, "x")


def test_the_registry_listens_on_loopback_only_and_reports_nowhere(tmp_path: Any) -> None:
    document = config_document(tmp_path)
    assert document["http"] == {"addr": "127.0.0.1:0", "secret": document["http"]["secret"]}  # type: ignore[index]
    assert set(document) == {"version", "log", "storage", "http"}  # no notifications, no proxy
