"""One home for the command line: a module per subcommand in bench/commands/, each turning its
parsed arguments into a typed call, so argparse stops there; the entry point imports only
the module of the command asked for."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import build_parser, main
from bench.commands import COMMANDS
from tests.unit.test_cli_imports import modules_after

ROOT = Path(__file__).resolve().parents[2]
EDGE = (ROOT / "bench" / "cli.py", ROOT / "bench" / "commands")
HEAVY = ("pandas", "plotly", "scipy", "sqlalchemy")
ACTIONS = {"history": ("import", "list", "show", "export", "prune"), "cache": ("list", "prune")}


def below_the_edge() -> list[Path]:
    """Every module of the packages but bench/cli.py and bench/commands/."""
    files = [path for package in ("foundation", "bench", "runtimes", "reports")
             for path in sorted((ROOT / package).rglob("*.py"))]
    return [path for path in files if not any(path == edge or edge in path.parents
                                               for edge in EDGE)]


def namespace_parameters(source: str) -> list[str]:
    """The functions whose parameters are annotated with an argparse Namespace."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            if any(arg.annotation is not None and "Namespace" in ast.unparse(arg.annotation)
                   for arg in arguments):
                found.append(node.name)
    return found


def test_argparse_stops_at_the_commands() -> None:
    """Nothing below bench/commands/ takes an argparse.Namespace or imports argparse (reports/
    keeps the pages, not the command lines)."""
    offenders = {}
    for path in below_the_edge():
        text = path.read_text()
        taking = namespace_parameters(text)
        if taking or "argparse" in text:
            offenders[str(path.relative_to(ROOT))] = taking or ["mentions argparse"]
    assert not offenders


def test_the_check_finds_a_function_that_takes_a_namespace() -> None:
    source = "import argparse\ndef execute(config: int, args: argparse.Namespace) -> int: ...\n"
    assert namespace_parameters(source) == ["execute"]
    assert namespace_parameters("def f(args: 'Namespace') -> None: ...") == ["f"]
    assert namespace_parameters("def f(args: list[str]) -> None: ...") == []


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_module_has_its_name_help_arguments_and_main(name: str) -> None:
    module = importlib.import_module(COMMANDS[name])
    assert module.__name__.startswith("bench.commands.")
    assert name == module.NAME
    assert module.HELP and "\n" not in module.HELP
    assert callable(module.add_arguments) and callable(module.main)


@pytest.mark.parametrize("argv", [
    *[[name] for name in COMMANDS],
    *[[name, action] for name, actions in ACTIONS.items() for action in actions],
])
def test_every_command_answers_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: bench {' '.join(argv)} ")


def test_bench_help_lists_every_command_with_its_line() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.cli", "--help"], capture_output=True,
                          text=True, check=True, timeout=60, cwd=ROOT)
    folded = " ".join(done.stdout.split())
    for name in COMMANDS:
        help_line = importlib.import_module(COMMANDS[name]).HELP.replace("%%", "%")
        assert f" {name} {' '.join(help_line.split())}" in folded, name


def test_the_parser_of_one_command_has_that_command_only() -> None:
    """The parser is built from the module asked for; any other word gets them all."""
    choices = build_parser("gate")._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert list(choices) == ["gate"]
    every = build_parser("nope")._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert list(every) == list(COMMANDS)


def modules_loaded(*argv: str) -> set[str]:
    """The modules a fresh interpreter reports importing for ARGV under `-X importtime` (what
    an import statement loads; importlib.import_module's own module is not reported)."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    return imported_names(done.stderr)


def imported_names(importtime: str) -> set[str]:
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", importtime, re.M))


def test_importtime_is_read_the_way_the_checks_need() -> None:
    """The reading below finds a heavy import where there is one."""
    loaded = modules_loaded("-c", "import sqlalchemy")
    assert "sqlalchemy" in loaded and "sqlalchemy.engine" in loaded


@pytest.mark.parametrize("argv", [("gate", "--help"), ("history", "list", "--help"),
                                  ("calibrate", "--help"), ("summary", "--help")])
def test_a_command_s_help_loads_no_statistics_plots_or_database(argv: tuple[str, ...]) -> None:
    """`python3 -X importtime -m bench.cli gate --help` loads no pandas, plotly, scipy or
    SQLAlchemy (issue 22)."""
    loaded = modules_loaded("-m", "bench.cli", *argv)
    assert {"bench.commands", "bench.terminal"} <= loaded  # the reading saw bench start
    assert not [name for name in loaded if name.split(".")[0] in HEAVY]


@pytest.mark.parametrize("argv", [("gate", "--help"), ("history", "list", "--help"),
                                  ("export", "--help"), ("clean", "--help")])
def test_a_command_loads_its_own_module_only(argv: tuple[str, ...]) -> None:
    loaded = {name for name in modules_after(*argv) if name.startswith("bench.commands.")}
    assert f"bench.commands.{argv[0]}" in loaded
    assert loaded <= {f"bench.commands.{argv[0]}", "bench.commands.arguments"}


@pytest.mark.parametrize("argv", [("--help",), ("nope",)])
def test_bench_help_and_an_unknown_command_load_every_command(argv: tuple[str, ...]) -> None:
    assert set(COMMANDS.values()) <= modules_after(*argv)
