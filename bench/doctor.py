"""Host checks (`bench doctor`) and driver availability (`bench runtimes`); what `bench
clean` sweeps is bench/leftovers.py.

Every check asks the code that will do the work: the drivers' own availability checks,
the guest accel choice, the compiler lookup and namespace list the native runtime uses.
Nothing here keeps a copy of that logic.
"""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table

from bench.drivers import driver_class, known_drivers
from bench.fingerprint import cgroup_version
from foundation.errors import BenchError
from runtimes.base import AnyDriver, DriverOptions
from runtimes.guest.accel import choose_accel, host_virt
from runtimes.host.build import compiler
from runtimes.native.driver import NAMESPACES, disabled_namespaces


def availability() -> list[tuple[str, str | None]]:
    """(driver, reason it is unavailable or None) for every registered driver with its
    default options, or for each variant it names instead ("oci/runc", "oci/crun")."""
    result: list[tuple[str, str | None]] = []
    for name in known_drivers():
        try:
            cls = driver_class(name)
            checks = ({f"{name}/{variant}": options for variant, options in cls.variants().items()}
                      or {name: cls.Options()})
        except BenchError as error:
            result.append((name, str(error)))
            continue
        result += [(label, reason_of(cls, options)) for label, options in checks.items()]
    return result


def reason_of(cls: type[AnyDriver], options: DriverOptions) -> str | None:
    try:
        return cls.unavailable_reason(options)
    except BenchError as error:
        return str(error)


def print_runtimes(console: Console) -> None:
    table = Table(title="runtime drivers", title_justify="left")
    table.add_column("driver")
    table.add_column("available")
    table.add_column("why not")
    for name, reason in availability():
        table.add_row(name, "no" if reason else "yes", reason or "")
    console.print(table)


def accel_check() -> str:
    """What a guest would run with here, from the same choice the libvirt driver makes."""
    try:
        choice = choose_accel("auto", host_virt())
    except BenchError as error:
        return str(error)
    return f"{choice.accel}: {choice.reason}"


def compiler_check() -> tuple[bool, str]:
    try:
        return True, compiler()
    except BenchError as error:
        return False, str(error)


def checks() -> list[tuple[str, bool, str]]:
    root = os.geteuid() == 0
    missing = disabled_namespaces()
    has_compiler, cc = compiler_check()
    return [
        ("root", root, "running as root" if root else "not root: native, docker and libvirt "
         "need root"),
        ("cgroups", True, cgroup_version()),
        ("namespaces", not missing, " ".join(NAMESPACES) if not missing else
         f"missing or disabled: {' '.join(missing)}"),
        ("compiler", has_compiler, cc),
        ("accel", True, accel_check()),
    ]


def print_doctor(console: Console) -> int:
    table = Table(title="host checks", title_justify="left")
    for column in ("check", "ok", "detail"):
        table.add_column(column)
    problems = 0
    for name, ok, detail in checks():
        problems += not ok
        table.add_row(name, "yes" if ok else "NO", detail)
    for name, reason in availability():
        table.add_row(f"driver {name}", "no" if reason else "yes", reason or "available")
    console.print(table)
    print_noise(console)
    return 1 if problems else 0


def print_noise(console: Console) -> None:
    """What moves timings on this host, with what to do about each (warnings: bench still
    runs, but its figures move with these)."""
    from bench.host_noise import noise_sources

    table = Table(title="noise sources (timings move with these)", title_justify="left")
    for column in ("source", "quiet", "now", "what to do"):
        table.add_column(column)
    for source in noise_sources():
        table.add_row(source.name, "yes" if source.ok else "NO", source.detail, source.advice)
    console.print(table)
