"""Fixtures for the rfc2136 tests: the real servers from ``dnsauto/testing/servers``."""

from dnsauto.testing.servers.fixtures import (
    bind_server,
    dns_server,
    knot_server,
    pdns_server,
    signed_bind_server,
)

__all__ = ["bind_server", "dns_server", "knot_server", "pdns_server", "signed_bind_server"]
