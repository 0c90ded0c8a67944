"""`bench runtimes`: every driver and whether it can run here (bench/doctor.py)."""

from __future__ import annotations

import argparse

NAME = "runtimes"
HELP = "list the drivers and whether each is available here"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments."""


def main(args: argparse.Namespace) -> int:
    from bench.doctor import print_runtimes
    from bench.terminal import out

    print_runtimes(out)
    return 0
