"""The report's spectrum and engine-tax sections, and runtimes a run skipped, from synthetic runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from reports import analysis, figures
from reports.html import write_report
from reports.spectrum import engine_tax, kind_of, median_of, spectrum
from tests.report_fixtures import HOSTILE, MODELS, RuntimeModel, write_results

RUNC = {"driver": "oci", "runtime": "runc", "isolation": "namespaces+cgroup"}
EXTRA = {
    "oci-runc": RuntimeModel("oci", {"run": 40.0, "ready": 1.0},
                             {"host_pss": 0.9e6, "host_pss.workload": 0.9e6, "cgroup": 500e3},
                             1.05, RUNC),
    "oci-runsc": RuntimeModel("oci", {"run": 360.0, "ready": 5.0},
                              {"host_pss": 20e6, "host_pss.sentry": 12e6, "host_pss.gofer": 7e6,
                               "host_pss.workload": 1e6}, 400.0,
                              {"driver": "oci", "runtime": "runsc", "platform": "ptrace"}),
    "podman": RuntimeModel("podman", {"create": 250.0, "start": 400.0, "ready": 0.0},
                           {"host_pss": 1.4e6, "host_pss.workload": 0.9e6, "host_pss.conmon": 0.5e6},
                           1.0, {"driver": "podman", "runtime": "runc"}),
    "lxc": RuntimeModel("lxc", {"spawn": 10.0, "ready": 60.0}, {"host_pss": 2.5e6}, 1.0,
                        {"driver": "lxc", "launcher": "start"}),
}
RUNTIMES = {"process": "process", "native": "native", "lxc": "lxc", "oci-runc": "oci-runc",
            "docker": "docker", "podman": "podman", "oci-runsc": "oci-runsc",
            "libvirt": "libvirt"}
SKIPPED = {"oci-crun": "crun refuses this host's hybrid cgroup layout", HOSTILE: HOSTILE}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        for name, model in EXTRA.items():
            patch.setitem(MODELS, name, model)
        path = write_results(tmp_path_factory.mktemp("spectrum") / "run", runtimes=RUNTIMES,
                             repetitions=6, skipped=SKIPPED)  # an interval from 6 instances
    return path


@pytest.fixture(scope="module")
def result(run_dir: Path) -> analysis.Analysis:
    return analysis.analyse([run_dir])


def test_kinds_come_from_the_driver_and_its_oci_runtime() -> None:
    assert kind_of(RUNC) == "oci"
    assert kind_of({"driver": "docker", "runtime": "runsc"}) == "gvisor"
    assert kind_of({"driver": "podman", "runtime": "runc"}) == "engine"
    assert kind_of({"driver": "lxc"}) == "namespaces"
    assert kind_of({"driver": "someone-elses"}) == "other"


def test_the_spectrum_runs_from_the_process_to_the_vm(result: analysis.Analysis) -> None:
    places = spectrum(result)
    assert [p.label for p in places] == ["process", "native", "lxc", "oci-runc", "docker",
                                         "podman", "oci-runsc", "libvirt"]
    runsc = next(p for p in places if p.label == "oci-runsc")
    assert runsc.getppid_ratio is not None and runsc.getppid_ratio[1] > 100
    libvirt = next(p for p in places if p.label == "libvirt")
    assert libvirt.memory == pytest.approx(45e6 + 95e6, rel=0.1)  # host PSS plus guest RAM


def test_the_spectrum_quotes_the_summarys_medians(result: analysis.Analysis) -> None:
    # the instance is the unit: the spectrum's median is the verdict table's, not the pooled batches'
    medians = {(s.label, s.metric): s.median for s in result.stats}
    places = spectrum(result)
    assert places and all(p.getppid is not None for p in places)
    for place in places:
        assert place.getppid == pytest.approx(medians[(place.label, "syscall.getppid")])
        assert median_of(result, place.label, "memory.host_pss") == pytest.approx(
            medians[(place.label, "memory.host_pss")])
    batches = {p.label: float(np.median(figures.pooled(result, p.label, "syscall.getppid")))
               for p in places}
    assert any(p.getppid != pytest.approx(batches[p.label], rel=1e-9) for p in places), \
        "the fixture's pooled batches give other medians: the test tells the two apart"


def test_each_engine_is_paired_with_its_runtime_called_directly(result: analysis.Analysis) -> None:
    taxes = {(t.engine, t.metric): t for t in engine_tax(result)}
    assert set(taxes) == {("docker", "boot.total"), ("podman", "boot.total")}, \
        "no teardown samples in the fixture, and oci-runsc has no runsc engine beside it"
    docker = taxes[("docker", "boot.total")]
    assert (docker.reference, docker.runtime) == ("oci-runc", "runc")
    assert docker.share_ms == pytest.approx(370 - 41, rel=0.2)
    assert docker.ratio[1] > 1, "the engine's share is positive beyond its interval"


def test_the_page_shows_the_spectrum_the_engine_tax_and_what_was_skipped(run_dir: Path,
                                                                          tmp_path: Path) -> None:
    page = write_report([run_dir], tmp_path / "report.html").read_text()
    sections = re.findall(r'<section id="([a-z-]+)">', page)
    assert sections.index("syscalls") < sections.index("spectrum") < sections.index("engine")
    engine = re.search(r'<section id="engine">(.*?)</section>', page, re.S)
    assert engine is not None and "oci-runc" in engine.group(1) and "+" in engine.group(1)
    spectrum_html = re.search(r'<section id="spectrum">(.*?)</section>', page, re.S)
    assert spectrum_html is not None
    assert "Not run on this host" in spectrum_html.group(1)
    assert "crun refuses this host&#39;s hybrid cgroup layout" in spectrum_html.group(1)
    assert HOSTILE not in page, "a skipped runtime's name and reason are text"
    assert "oci-crun was not run on this host" in page  # the first screen's warnings
