"""The config loader: strict, typed, and every error one line naming the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.config import SyscallWorkload, load_config, parse_config
from foundation.errors import ConfigError

GOOD = {
    "runtimes": {"process": {"driver": "process"}, "base2": {"driver": "process"}},
    "workloads": {"idle": {"mode": "ready"}, "sys": {"mode": "syscall", "batches": 4}},
}


def test_good_config_is_typed_and_frozen() -> None:
    config = parse_config(GOOD)
    assert isinstance(config.workloads["sys"], SyscallWorkload)
    assert config.workloads["sys"].batches == 4
    assert config.repetitions_of("base2") == 5
    with pytest.raises(Exception, match="frozen"):
        config.repetitions = 3  # type: ignore[misc]


@pytest.mark.parametrize(("document", "message"), [
    ({**GOOD, "bogus": 1}, "bogus: unknown key"),
    ({**GOOD, "repetitions": "many"}, "repetitions: input should be a valid integer"),
    ({**GOOD, "repetitions": 0}, "repetitions: input should be greater than or equal to 1"),
    ({**GOOD, "runtimes": {"x": {"driver": "nope"}}}, "runtimes.x.driver: unknown driver 'nope'"),
    ({**GOOD, "runtimes": {"x": {"driver": "process", "options": {"a": 1}}}},
     "runtimes.x.options.a: unknown key"),
    ({**GOOD, "workloads": {"w": {"mode": "syscall", "calls": "x"}}}, "workloads.w.calls:"),
    ({**GOOD, "workloads": {"w": {"mode": "dance"}}}, "workloads.w:"),
    ({"workloads": GOOD["workloads"]}, "runtimes: field required"),
    ([1, 2], "expected a mapping"),
])
def test_errors_name_the_dotted_key(document: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(document, "c.yaml")
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith("c.yaml: ")


def test_unknown_driver_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known: .*process"):
        parse_config({**GOOD, "runtimes": {"x": {"driver": "nope"}}})


@pytest.mark.parametrize("name", ["a b", "Docker", "d_1", "..", ".", "a.b", "-a", "a-", "", "é",
                                  "a" * 33, "a/b", "a\x1b[31m", "[/]", "<img>"])
@pytest.mark.parametrize("section", ["runtimes", "workloads"])
def test_names_follow_one_rule_every_driver_can_use(section: str, name: str) -> None:
    entry = {"driver": "process"} if section == "runtimes" else {"mode": "ready"}
    with pytest.raises(ConfigError, match="a name is 1 to 32 lowercase letters") as info:
        parse_config({**GOOD, section: {name: entry}}, "c.yaml")
    assert str(info.value).isprintable()


def test_good_names_pass() -> None:
    names = ["a", "docker-unconfined", "x" * 32, "0", "a-1-b"]
    config = parse_config({"runtimes": {n: {"driver": "process"} for n in names},
                           "workloads": {n: {"mode": "ready"} for n in names}})
    assert list(config.runtimes) == names


@pytest.mark.parametrize("text", ["runtimes: [unclosed", "a: b: c", "\t- x"])
def test_bad_yaml_is_one_line_with_exit_2(tmp_path: Path, text: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: ") and "invalid YAML" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_shipped_configs_load() -> None:
    shipped = sorted(CONFIGS.glob("*.yaml"))
    assert len(shipped) >= 4, f"no shipped configs found in {CONFIGS}"
    for path in shipped:
        load_config(path)
