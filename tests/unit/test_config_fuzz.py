"""Property: no malformed config crashes the loader; each gives one line and exit code 2."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.config import load_config
from bench.errors import ConfigError

GOOD: dict[str, Any] = {
    "repetitions": 3, "warmup": 1, "cell_timeout": 30.0, "settle": 0.5, "output": "results",
    "runtimes": {"process": {"driver": "process", "options": {}}},
    "workloads": {"idle": {"mode": "ready"}, "sys": {"mode": "syscall", "batches": 5}},
}
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, prefix + (key,))
    return found


@st.composite
def malformed(draw: st.DrawFn) -> str:
    """A config made wrong in at least one way, or text that is not a config at all."""
    kind = draw(st.sampled_from(["unknown_key", "bad_value", "not_mapping", "garbage"]))
    if kind == "garbage":
        return draw(st.text(max_size=80)) + "\n: [\n"
    if kind == "not_mapping":
        return yaml.safe_dump(draw(st.one_of(scalars, st.lists(values, max_size=3))))
    document = yaml.safe_load(yaml.safe_dump(GOOD))
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


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=malformed())
def test_every_malformed_config_gives_one_line_and_exit_2(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.yaml"
        path.write_text(text)
        try:
            load_config(path)
        except ConfigError as error:
            message = str(error)
            assert error.exit_code == 2
            assert message.startswith(str(path)) and "\n" not in message
            return
    raise AssertionError(f"accepted a malformed config:\n{text}")
