"""A guest kernel's command line, built from typed parts: what every VM driver passes to a
kernel booted straight from the host (libvirt's <cmdline>, QEMU's -append).

Every value comes from a validated field; nothing is spliced into a string template, so a
kernel parameter or a probe argument cannot add a second command line. The probe gets what
follows `--` (the kernel hands it to /init as its arguments).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# kernel parameters: a conservative alphabet, no blanks or quotes, not starting with '-'
KERNEL_PARAM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,:/+=@%-]*")
COMMAND_LINE_MAX = 2047  # x86 COMMAND_LINE_SIZE less the terminator
# serial console and a fast way out; the probe's arguments follow "--"
BASE_PARAMS = ("console=ttyS0", "panic=-1")


def check_kernel_param(param: str) -> str:
    """One kernel parameter, refused when it could break out of its slot."""
    if not KERNEL_PARAM.fullmatch(param):
        raise ValueError(f"{param!r} is not a plain kernel parameter (letters, digits and _.,:/+=@%-"
                         " only, no blanks or quotes, not starting with '-')")
    return param


def kernel_cmdline(extra: Sequence[str], probe_argv: Sequence[str]) -> str:
    """`console=ttyS0 panic=-1 EXTRA... -- MODE KEY=VALUE...`: the probe gets what follows `--`."""
    params = [check_kernel_param(p) for p in (*BASE_PARAMS, *extra)]
    probe = [check_kernel_param(arg) for arg in probe_argv]
    cmdline = " ".join([*params, "--", *probe])
    if len(cmdline) > COMMAND_LINE_MAX:
        raise ValueError(f"the kernel command line is {len(cmdline)} bytes, over {COMMAND_LINE_MAX}")
    return cmdline
