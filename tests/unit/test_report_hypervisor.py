"""The report's hypervisor-stack view from a synthetic run with libvirt (q35), QEMU's q35 and
QEMU's microvm: the pairs it makes, its stages summed per instance, and the page section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reports import analysis
from reports.html import write_report
from reports.hypervisor import STAGES, pairs_of, stack_shares
from tests.report_fixtures import MODELS, RuntimeModel, write_results

GUEST_MEMORY = {"host_pss": 70e6, "host_pss.vmm": 30e6, "host_pss.tcg_code_cache": 40e6,
                "guest_ram": 120e6}
GUESTS = {
    "libvirt-q35": RuntimeModel("libvirt", {"create": 600.0, "console": 50.0, "resume": 20.0,
                                            "first_byte": 90.0, "kernel_to_init": 9000.0,
                                            "ready": 80.0},
                                {**GUEST_MEMORY, "host_pss.vmm": 45e6}, 1.0,
                                {"driver": "libvirt", "machine": "pc-q35-7.2", "accel": "tcg"}),
    "qemu-q35": RuntimeModel("qemu", {"process": 2.0, "qmp": 170.0, "running": 5.0,
                                      "first_byte": 90.0, "kernel_to_init": 9000.0, "ready": 80.0},
                             GUEST_MEMORY, 1.0, {"driver": "qemu", "machine": "q35", "accel": "tcg"}),
    "qemu-microvm": RuntimeModel("qemu", {"process": 2.0, "qmp": 60.0, "running": 5.0,
                                          "first_byte": 30.0, "kernel_to_init": 7000.0,
                                          "ready": 80.0},
                                 {**GUEST_MEMORY, "host_pss.vmm": 25e6}, 1.0,
                                 {"driver": "qemu", "machine": "microvm", "accel": "tcg"}),
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        for name, model in GUESTS.items():
            patch.setitem(MODELS, name, model)
        return write_results(tmp_path_factory.mktemp("stack") / "run",
                             runtimes={"process": "process", **{n: n for n in GUESTS}},
                             repetitions=6)


@pytest.fixture(scope="module")
def result(run_dir: Path) -> analysis.Analysis:
    return analysis.analyse([run_dir])


def test_libvirt_pairs_with_q35_and_q35_with_microvm(result: analysis.Analysis) -> None:
    assert pairs_of(result.runs[0]) == [("management stack", "libvirt-q35", "qemu-q35", "tcg"),
                                        ("machine model", "qemu-q35", "qemu-microvm", "tcg")]


def test_a_libvirt_pc_or_another_accelerator_is_no_pair(result: analysis.Analysis) -> None:
    run = result.runs[0]
    drivers = run.manifest.drivers
    drivers["libvirt-q35"] = {**drivers["libvirt-q35"], "machine": "pc"}
    drivers["qemu-microvm"] = {**drivers["qemu-microvm"], "accel": "kvm"}
    try:
        assert pairs_of(run) == []
    finally:
        drivers["libvirt-q35"] = GUESTS["libvirt-q35"].fingerprint
        drivers["qemu-microvm"] = GUESTS["qemu-microvm"].fingerprint


def test_stages_sum_each_drivers_phases_per_instance(result: analysis.Analysis) -> None:
    management, machine = stack_shares(result)
    rows = {row.stage: row for row in management.rows}
    start = STAGES[0][1]
    # libvirt: create + console + resume; QEMU: process + qmp + running (noise 15 % each)
    assert rows[start].candidate == pytest.approx(670.0, rel=0.25)
    assert rows[start].reference == pytest.approx(177.0, rel=0.25)
    assert rows[start].ratio is not None and rows[start].ratio[1] > 1, "libvirt's start is dearer"
    assert rows[start].share is not None and rows[start].share > 0
    vmm = next(row for row in machine.rows if "VMM's own memory" in row.stage)
    assert vmm.unit == "bytes" and vmm.candidate is not None and vmm.reference is not None
    assert vmm.candidate > vmm.reference  # q35's VMM against microvm's


def test_without_six_instances_a_stage_says_why_it_has_no_interval(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name, model in GUESTS.items():
            patch.setitem(MODELS, name, model)
        path = write_results(tmp_path / "few", runtimes={n: n for n in GUESTS}, repetitions=2)
    row = stack_shares(analysis.analyse([path]))[0].rows[0]  # 4 instances: 2 cells a repetition
    assert row.ratio is None and row.point is not None and row.note


def test_the_page_has_the_hypervisor_section(run_dir: Path, tmp_path: Path) -> None:
    page = write_report([run_dir], tmp_path / "report.html").read_text()
    sections = re.findall(r'<section id="([a-z-]+)"', page)
    assert "hypervisor" in sections
    found = re.search(r'<section id="hypervisor">(.*?)</section>', page, re.S)
    assert found is not None
    body = found.group(1)
    assert "management stack" in body and "machine model" in body and "qemu-microvm" in body
