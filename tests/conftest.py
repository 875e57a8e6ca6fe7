"""Shared fixtures for the core's tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from dnsauto.plugin.registry import Registry
from dnsauto.testing.memory import memory_registry
from dnsauto.testing.servers.fixtures import (
    postgres_database,
    postgres_server,
    private_postgres_server,
    topology,
)

__all__ = [
    "postgres_database",
    "postgres_server",
    "private_postgres_server",
    "registry",
    "topology",
    "write_config",
]

MINIMAL = """
[bootstrap]
serverHostname = "mail.example.test"
defaultDomain = "example.test"

[daemon]
stateDir = "state"
"""


@pytest.fixture
def registry() -> Registry:
    return memory_registry()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a TOML configuration into a temporary folder and return its path."""

    def write(text: str, name: str = "config.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write
