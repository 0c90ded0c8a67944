"""The connection to libvirt, and the sweep of the domains a run left behind.

libvirt-python is imported here, when a connection is asked for, so the driver's module
imports (and reports itself unavailable) without it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from foundation.errors import InstanceError, RuntimeUnavailable
from runtimes.libvirt.console import ensure_event_loop
from runtimes.libvirt.domain import metadata_run_id

INSTALL = "pip install 'bench[libvirt]'"
START_DAEMONS = "check the URI, or start the daemons: virtlogd -d && libvirtd -d"


def import_libvirt() -> ModuleType:
    try:
        libvirt = importlib.import_module("libvirt")
    except ImportError as error:
        raise RuntimeUnavailable(f"libvirt-python is not installed: {INSTALL}") from error
    # errors arrive as exceptions and are translated; the default handler would also print them
    libvirt.registerErrorHandler(_ignore_error, None)
    return libvirt


def _ignore_error(context: object, error: object) -> None:
    return None


def open_connection(libvirt: ModuleType, uri: str) -> Any:
    ensure_event_loop(libvirt)  # before the connection: its console streams need the loop
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as error:
        raise RuntimeUnavailable(f"cannot reach libvirt at {uri} ({error.get_error_message()});"
                                 f" {START_DAEMONS}") from error


def clean_domains(libvirt: ModuleType, conn: Any, prefix: str, run_id: str | None,
                   dry_run: bool) -> list[str]:
    found = []
    for domain in conn.listAllDomains(0):
        name = domain.name()
        if not name.startswith(prefix):
            continue
        try:
            tagged = metadata_run_id(domain.XMLDesc(0))
        except libvirt.libvirtError:
            continue  # it powered off (and vanished) since the listing
        if tagged is None or (run_id and tagged != run_id):
            continue
        found.append(name)
        if not dry_run:
            remove_domain(libvirt, domain)
    return found


def remove_domain(libvirt: ModuleType, domain: Any) -> None:
    try:
        if domain.isActive():
            domain.destroy()
        if domain.isPersistent():
            domain.undefine()
    except libvirt.libvirtError as error:
        if error.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise InstanceError(f"cannot remove domain {domain.name()}: "
                                f"{error.get_error_message()}") from error
