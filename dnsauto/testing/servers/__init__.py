"""Real DNS servers for the tests: BIND, Knot and PowerDNS on 127.0.0.1, from temporary dirs.

Each ``start_*`` function writes a configuration with the zones :data:`ZONE` and
:data:`CHILD_ZONE` (delegated from it), a TSIG key per algorithm (allowed to update and
transfer both zones) and a read-only key, starts the server on a free high port, waits until
it answers SOA queries, and returns a :class:`RunningServer`; call its ``stop()``. A missing
program raises :class:`ServerUnavailable`. :func:`start_postgres` starts a PostgreSQL cluster
the same way (:mod:`dnsauto.testing.servers.postgres`). Pytest fixtures are in
:mod:`dnsauto.testing.servers.fixtures`.
"""

from dnsauto.testing.servers._common import (
    ALGORITHMS,
    CHILD_ZONE,
    HOST,
    TRUNCATED_BASE,
    ZONE,
    RunningServer,
    ServerFailed,
    ServerUnavailable,
    TsigKeySpec,
)
from dnsauto.testing.servers.bind import start_bind
from dnsauto.testing.servers.knot import start_knot
from dnsauto.testing.servers.pdns import start_pdns
from dnsauto.testing.servers.postgres import PostgresServer, start_postgres

__all__ = [
    "ALGORITHMS",
    "CHILD_ZONE",
    "HOST",
    "SERVERS",
    "TRUNCATED_BASE",
    "ZONE",
    "PostgresServer",
    "RunningServer",
    "ServerFailed",
    "ServerUnavailable",
    "TsigKeySpec",
    "start_bind",
    "start_knot",
    "start_pdns",
    "start_postgres",
]

SERVERS = {"bind": start_bind, "knot": start_knot, "pdns": start_pdns}
"""How to start each server, by the name the fixtures and test ids use."""
