"""Property: no hostile config crashes, hangs or exhausts the loader; each is one line, exit 2.

Deterministic (derandomized: the same examples on every run) and bounded (a deadline per
example): CI runs it on every change. Classes tried: malformed structure, YAML that expands
without bound (aliases, nesting, size, keys), repeated keys, booleans and non-finite numbers
where numbers belong, counts and times no run can finish, names no driver can use, and
libvirt URIs that would run a program.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cli import main
from bench.config import NAME, load_config, parse_config
from foundation.errors import ConfigError

GOOD: dict[str, Any] = {
    "repetitions": 3, "warmup": 1, "cell_timeout": 30.0, "settle": 0.5, "output": "results",
    "runtimes": {"process": {"driver": "process", "options": {}}},
    "workloads": {"idle": {"mode": "ready"}, "sys": {"mode": "syscall", "batches": 5}},
}
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
FUZZ = settings(max_examples=200, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, prefix + (key,))
    return found


def copy_good() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(yaml.safe_dump(GOOD))
    return loaded


@st.composite
def malformed(draw: st.DrawFn) -> str:
    """A config made wrong in at least one way, or text that is not a config at all."""
    kind = draw(st.sampled_from(["unknown_key", "bad_value", "not_mapping", "garbage"]))
    if kind == "garbage":
        return draw(st.text(max_size=80)) + "\n: [\n"
    if kind == "not_mapping":
        return yaml.safe_dump(draw(st.one_of(scalars, st.lists(values, max_size=3))))
    document = copy_good()
    target = draw(st.sampled_from(paths(document)))
    parent = document
    for key in target[:-1]:
        parent = parent[key]
    if kind == "unknown_key":
        holder = parent[target[-1]] if isinstance(parent[target[-1]], dict) else parent
        holder["zz_" + draw(st.text(alphabet="abcxyz", min_size=1, max_size=6))] = draw(values)
    else:  # no key of this config takes a list
        parent[target[-1]] = draw(st.lists(values, min_size=1, max_size=2))
    return yaml.safe_dump(document)


# --- YAML that costs without bound ------------------------------------------------------

@st.composite
def alias_bomb(draw: st.DrawFn) -> str:
    """Billion laughs: each level a list of aliases to the previous one."""
    width, depth = draw(st.integers(4, 12)), draw(st.integers(6, 12))
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, depth):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + f"\nrepetitions: *a{depth - 1}\n"


@st.composite
def deep(draw: st.DrawFn) -> str:
    depth = draw(st.integers(40, 5000))
    opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
    return f"runtimes: {opener * depth}{closer * depth}\n"


@st.composite
def wide(draw: st.DrawFn) -> str:
    """More values than a config holds in few bytes, a hundred thousand keys, or a document
    past the size bound."""
    count = draw(st.integers(110_000, 200_000))
    kind = draw(st.sampled_from(["values", "keys", "size"]))
    if kind == "values":
        return "workloads: [" + "1," * count + "]\n"
    if kind == "keys":
        return "runtimes:\n" + "".join(f" k{i}: 1\n" for i in range(count))
    return "description: " + "x" * (count * 10) + "\n"


@st.composite
def cycle(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["a: &a [*a]\n", "a: &a {b: *a}\n", "runtimes: *nowhere\n"]))


@st.composite
def repeated_key(draw: st.DrawFn) -> str:
    """A key written twice at some level: the last one would silently win."""
    document = copy_good()
    target = draw(st.sampled_from(paths(document)))
    text = yaml.safe_dump(document, sort_keys=False)
    key = str(target[-1])
    indent = "  " * (len(target) - 1)
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{indent}{key}:"))
    return "\n".join(lines[:index + 1] + [f"{indent}{key}: {draw(st.sampled_from(['1', 'x']))}"]
                     + lines[index + 1:]) + "\n"


# --- values no run can use ---------------------------------------------------------------

NUMBER_KEYS = [("repetitions",), ("warmup",), ("cell_timeout",), ("settle",),
               ("workloads", "sys", "batches"), ("runtimes", "process", "repetitions"),
               ("runtimes", "process", "warmup")]
HOSTILE_NUMBERS = st.one_of(
    st.booleans(), st.sampled_from([".inf", "-.inf", ".nan", "1.0e999"]),
    st.integers(10**6, 10**30), st.integers(-10**30, -1), st.just("9" * 5000))


@st.composite
def hostile_number(draw: st.DrawFn) -> str:
    document = copy_good()
    target = draw(st.sampled_from(NUMBER_KEYS))
    parent = document
    for key in target[:-1]:
        parent = parent[key]
    parent[target[-1]] = "@@VALUE@@"
    value = draw(HOSTILE_NUMBERS)
    text = value if isinstance(value, str) else yaml.safe_dump(value).splitlines()[0]
    return yaml.safe_dump(document).replace("'@@VALUE@@'", text)


def bad_name() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(min_size=0, max_size=40).filter(lambda n: not NAME.fullmatch(n)),
        st.sampled_from(["..", ".", "a/b", "a" * 250, "Docker", "d_1", "a\nb", "a\x1b[31m",
                         "[/]", "[bold]x[/bold]", "<img src=x onerror=alert(1)>", "<!--", "é"]))


@st.composite
def bad_names(draw: st.DrawFn) -> str:
    document = copy_good()
    section = draw(st.sampled_from(["runtimes", "workloads"]))
    old = next(iter(document[section]))
    document[section][draw(bad_name())] = document[section].pop(old)
    return yaml.safe_dump(document, allow_unicode=True)


@st.composite
def program_uri(draw: st.DrawFn) -> str:
    transport = draw(st.sampled_from(["qemu+ext", "QEMU+EXT", "lxc+ext", "qemu+ssh", "qemu+libssh2",
                                      "qemu+libssh"]))
    name = draw(st.sampled_from(["command", "Command", "netcat", "%63ommand", "NETCAT"]))
    separator = draw(st.sampled_from(["?", "?no_verify=1&", "?no_verify=1;"]))
    query = "" if transport.lower().endswith("ext") and draw(st.booleans()) else \
        f"{separator}{name}=/tmp/evil"
    document = copy_good()
    document["runtimes"]["vm"] = {"driver": "libvirt",
                                  "options": {"uri": f"{transport}://host/system{query}"}}
    return yaml.safe_dump(document)


HOSTILE = st.one_of(malformed(), alias_bomb(), deep(), wide(), cycle(), repeated_key(),
                    hostile_number(), bad_names(), program_uri())


def refused_in_one_line(path: Path) -> ConfigError:
    try:
        load_config(path)
    except ConfigError as error:
        message = str(error)
        assert error.exit_code == 2
        assert message.startswith(str(path)) and "\n" not in message, message
        assert len(message) < 2000, "one line, not a page"
        return error
    raise AssertionError(f"accepted a hostile config:\n{path.read_text()[:2000]}")


@FUZZ
@given(text=HOSTILE)
def test_every_hostile_config_gives_one_line_and_exit_2(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    refused_in_one_line(path)


@settings(max_examples=25, deadline=5000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=HOSTILE)
def test_the_command_line_shows_it_as_one_line(tmp_path: Path, text: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert main(["run", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: ") and len(err.splitlines()) == 1 and err.isprintable(), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "not utf-8", "empty"])
def test_what_is_not_a_yaml_file_is_refused_without_reading_forever(tmp_path: Path,
                                                                      kind: str) -> None:
    import os

    path = tmp_path / "c.yaml"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # no writer: a blocking read would hang
    elif kind == "device":
        path = Path("/dev/zero")
    elif kind == "not utf-8":
        path.write_bytes(b"repetitions: \xff\xfe\n")
    else:
        path.write_text("")
    refused_in_one_line(path)


@settings(max_examples=40, deadline=2000, derandomize=True)
@given(name=st.from_regex(NAME, fullmatch=True))
def test_every_name_the_rule_accepts_is_accepted(name: str) -> None:
    config = parse_config({"runtimes": {name: {"driver": "process"}},
                           "workloads": {name: {"mode": "ready"}}})
    assert list(config.runtimes) == [name]


def test_an_explicit_allow_lets_a_command_transport_through() -> None:
    document = copy_good()
    document["runtimes"]["vm"] = {"driver": "libvirt", "options": {
        "uri": "qemu+ext:///system?command=/usr/local/bin/tunnel", "allow_command_transport": True}}
    assert parse_config(document).runtimes["vm"].options.uri.startswith("qemu+ext")  # type: ignore[attr-defined]


def test_the_plan_is_bounded_before_it_is_built() -> None:
    document = copy_good()
    document["runtimes"] = {f"p{i}": {"driver": "process", "repetitions": 100_000} for i in range(3)}
    with pytest.raises(ConfigError, match="the plan would have"):
        parse_config(document)


def test_merge_keys_are_not_repeated_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("runtimes:\n  a: &a {driver: process, repetitions: 2}\n  b:\n    <<: *a\n"
                    "    repetitions: 3\nworkloads: {idle: {mode: ready}}\n")
    config = load_config(path)
    assert (config.repetitions_of("a"), config.repetitions_of("b")) == (2, 3)


@settings(max_examples=30, deadline=2000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=st.one_of(alias_bomb(), deep(), cycle(), repeated_key()))
def test_the_gate_reads_its_rules_within_the_same_bounds(tmp_path: Path, text: str) -> None:
    from bench.gate.evaluate import load_rules

    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
