"""Whatever the document, the loader answers with a config or a ConfigError, nothing else."""

from __future__ import annotations

import contextlib
import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsauto.config.loader import load_config, load_config_file
from dnsauto.plugin.errors import ConfigError
from dnsauto.testing.memory import memory_registry

REGISTRY = memory_registry()
EXAMPLE = tomllib.loads((Path(__file__).parent.parent / "config.example.toml").read_text())
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["Manual", "Memory", "Tsig", "Automatic", "Value", "5m", "-1s", "@type"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.sampled_from(["@type", "bootstrap", "ttl"])),
            children,
            max_size=4,
        ),
    ),
    max_leaves=25,
)


def accepts_or_refuses_cleanly(document: Any) -> None:
    try:
        load_config(document, registry=REGISTRY, source="fuzz")
    except ConfigError as exc:
        problems = exc.problems
    else:
        problems = []
    assert all("\n" not in p.path for p in problems)


@FUZZ
@given(json_values)
def test_arbitrary_documents_give_only_config_errors(document: Any) -> None:
    accepts_or_refuses_cleanly(document)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


EXAMPLE_PATHS = [p for p in _paths(EXAMPLE) if p]


@FUZZ
@given(st.sampled_from(EXAMPLE_PATHS), json_values, st.sampled_from(["replace", "delete", "add"]))
def test_mutations_of_the_example_give_only_config_errors(
    path: tuple[Any, ...], value: Any, how: str
) -> None:
    document = copy.deepcopy(EXAMPLE)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "replace":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[f"{last}x"] = value
    else:
        parent.append(value)
    accepts_or_refuses_cleanly(document)


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_file_bytes_give_only_config_errors(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "config.toml"
    path.write_bytes(data)
    with contextlib.suppress(ConfigError):
        load_config_file(path, REGISTRY)


@FUZZ
@given(json_values.filter(lambda v: isinstance(v, dict)))
def test_arbitrary_toml_files_give_only_config_errors(tmp_path_factory: Any, document: Any) -> None:
    try:
        text = tomli_w.dumps(document)
    except (TypeError, ValueError):
        text = json.dumps(document)
    path = tmp_path_factory.mktemp("fuzz") / "config.toml"
    path.write_text(text)
    with contextlib.suppress(ConfigError):
        load_config_file(path, REGISTRY)
