"""Shared fixtures for the core's tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dnsauto.plugin.registry import Registry
from dnsauto.testing.memory import memory_registry
from dnsauto.testing.servers._common import bound_port_pair
from dnsauto.testing.servers.fixtures import (
    bind_server,
    pebble,
    pebble_factory,
    postgres_database,
    postgres_server,
    private_postgres_server,
    topology,
)
from dnsauto.testing.servers.postgres import PostgresServer
from tests.store_backends import BACKENDS, StoreBackend

__all__ = [
    "bind_server",
    "pebble",
    "pebble_factory",
    "postgres_database",
    "postgres_server",
    "private_postgres_server",
    "registry",
    "store_backend",
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
def black_hole() -> Iterator[int]:
    """A port on loopback where queries are received and never answered, over UDP and over
    TCP (connected, never answered: the zone transfer a sync starts with)."""
    with bound_port_pair() as (tcp, _udp):
        tcp.listen(16)
        yield int(tcp.getsockname()[1])


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    """The state store on SQLite (in ``tmp_path/state``), then on PostgreSQL (a new database
    on the session's cluster); open it with ``.open()``."""
    state_dir = tmp_path / "state"
    if request.param == "sqlite":
        return StoreBackend("sqlite", state_dir)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return StoreBackend("postgresql", state_dir, server, server.create_database())


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
