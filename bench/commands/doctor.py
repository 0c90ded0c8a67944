"""`bench doctor`: the host checks (bench/doctor.py); exit 1 when one fails."""

from __future__ import annotations

import argparse

NAME = "doctor"
HELP = "check the host: cgroups, namespaces, compiler, daemons, accel"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments."""


def main(args: argparse.Namespace) -> int:
    from bench.doctor import print_doctor
    from bench.terminal import out

    return print_doctor(out)
