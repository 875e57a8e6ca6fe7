"""Pytest fixtures for the real DNS servers (and PostgreSQL); import the ones a test module needs::

    from dnsauto.testing.servers.fixtures import bind_server, dns_server  # noqa: F401

Each server starts once per test session (they start in tens of milliseconds, but the
session reuses them) and stops at its end. A missing program skips the tests that need it
(under ``CI=true`` the skip is a failure, see the root ``conftest.py``),
saying which package to install.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dnsauto.testing.servers import HOST, SERVERS, RunningServer, ServerUnavailable
from dnsauto.testing.servers.bind import start_bind
from dnsauto.testing.servers.pebble import RunningPebble, start_pebble
from dnsauto.testing.servers.postgres import PostgresServer, start_postgres
from dnsauto.testing.servers.topology import Topology, TopologyUnavailable, start_topology

__all__ = [
    "bind_server",
    "dns_server",
    "knot_server",
    "pdns_server",
    "pebble",
    "pebble_factory",
    "postgres_database",
    "postgres_server",
    "private_postgres_server",
    "signed_bind_server",
    "start_or_skip",
    "topology",
]

PACKAGES = {
    "bind": "bind9",
    "knot": "knot",
    "pdns": "pdns-server and pdns-backend-sqlite3",
    "pebble": "pebble",
}


def start_or_skip(kind: str) -> RunningServer:
    """Start a server of ``kind`` (``bind``, ``knot``, ``pdns``), or skip the test saying why."""
    return _start_or_skip(SERVERS[kind], kind)


def _start_or_skip(start: Callable[[], RunningServer], kind: str) -> RunningServer:
    try:
        return start()
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package {PACKAGES[kind]}")


def _serve(kind: str, start: Callable[[], RunningServer] | None = None) -> Iterator[RunningServer]:
    server = _start_or_skip(start or SERVERS[kind], kind)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bind_server() -> Iterator[RunningServer]:
    yield from _serve("bind")


@pytest.fixture(scope="session")
def signed_bind_server() -> Iterator[RunningServer]:
    """BIND with :data:`ZONE` and :data:`CHILD_ZONE` signed (DNSSEC), as a DANE domain's are."""
    yield from _serve("bind", lambda: start_bind(signed=True))


@pytest.fixture(scope="session")
def knot_server() -> Iterator[RunningServer]:
    yield from _serve("knot")


@pytest.fixture(scope="session")
def pdns_server() -> Iterator[RunningServer]:
    yield from _serve("pdns")


@pytest.fixture(scope="session", params=sorted(SERVERS))
def dns_server(request: pytest.FixtureRequest) -> RunningServer:
    """Each of the three servers in turn."""
    server: RunningServer = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture(scope="session")
def topology() -> Iterator[Topology]:
    """A BIND primary and BIND and Knot secondaries of ``example.test.`` on one shared port.

    Shared by the session: a test that makes a secondary lag undoes it (``reset()``).
    """
    try:
        running = start_topology()
    except TopologyUnavailable as exc:
        pytest.skip(f"propagation topology unavailable: {exc}")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session (``postgresql-15``, as an unprivileged user).

    Shared: a test takes a database of its own (``create_database()``) and never restarts it;
    a test that restarts PostgreSQL uses :func:`private_postgres_server`.
    """
    yield from _serve_postgres()


@pytest.fixture
def private_postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of the test's own, which it may ``restart()`` or ``shutdown()``."""
    yield from _serve_postgres()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> str:
    """The name of a new, empty database on the session's cluster."""
    return postgres_server.create_database()


def _serve_postgres() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package postgresql")
    try:
        yield server
    finally:
        server.stop()


PebbleFactory = Callable[..., RunningPebble]


@pytest.fixture
def pebble_factory() -> Iterator[PebbleFactory]:
    """Start Pebbles for one test: ``pebble_factory("127.0.0.1:PORT", env=..., ...)`` takes
    :func:`~dnsauto.testing.servers.pebble.start_pebble`'s arguments; all stop at teardown."""
    started: list[RunningPebble] = []

    def start(dns_server: str, **kwargs: Any) -> RunningPebble:
        try:
            pebble = start_pebble(dns_server, **kwargs)
        except ServerUnavailable as exc:
            pytest.skip(f"{exc}: install the Debian package {PACKAGES['pebble']}")
        started.append(pebble)
        return pebble

    try:
        yield start
    finally:
        for pebble in started:
            pebble.stop()


@pytest.fixture(scope="session")
def pebble(bind_server: RunningServer) -> Iterator[RunningPebble]:
    """A Pebble whose DNS-01 validation asks the session's BIND (see :data:`DEFAULT_ENV`)."""
    try:
        running = start_pebble(f"{HOST}:{bind_server.port}")
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package {PACKAGES['pebble']}")
    try:
        yield running
    finally:
        running.stop()
