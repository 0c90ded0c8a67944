"""Option types every VM driver's options share (libvirt's, QEMU's started directly): a
guest's memory size, its CPU model and extra kernel parameters, each checked once at the
config's edge with the same message."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, ByteSize, Field

from runtimes.guest.cmdline import check_kernel_param

MiB = 1 << 20
CPU_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def whole_mib(value: ByteSize) -> ByteSize:
    if value % MiB:
        raise ValueError("must be a whole number of MiB")
    return value


def cpu_model(value: str) -> str:
    if not CPU_MODEL.fullmatch(value):
        raise ValueError("expected a CPU model name such as qemu64")
    return value


def kernel_params(value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(check_kernel_param(param) for param in value)


GuestMemory = Annotated[ByteSize, Field(ge=32 * MiB, le=1 << 40), AfterValidator(whole_mib)]
CpuModel = Annotated[str, AfterValidator(cpu_model)]
KernelParams = Annotated[tuple[str, ...], AfterValidator(kernel_params)]
