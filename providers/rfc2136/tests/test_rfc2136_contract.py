"""The provider contract suite, run against BIND, Knot and PowerDNS with a TSIG key."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import dns.name
import pytest
from dnsauto_rfc2136.provider import TsigProvider
from rfc2136_testing import tsig_provider

from dnsauto.plugin import Provider
from dnsauto.testing import Failure, ProviderContract
from dnsauto.testing.servers import CHILD_ZONE, ZONE, RunningServer

pytestmark = pytest.mark.servers

ALGORITHM = "hmac-sha512"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class TestTsigProviderContract(ProviderContract):
    unpaged = "AXFR streams the whole zone in one transfer"
    server: RunningServer

    @pytest.fixture
    async def provider(self, dns_server: RunningServer) -> AsyncIterator[TsigProvider]:
        self.server = dns_server
        provider = tsig_provider(dns_server, ALGORITHM)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE)

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        return tsig_provider(self.server, ALGORITHM)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        return dns.name.from_text(CHILD_ZONE)  # every test server serves it, delegated

    async def fail_next(self, provider: Provider[Any], failure: Failure) -> Provider[Any] | str:
        if failure == "credentials":
            key = self.server.key(ALGORITHM)
            wrong = replace(key, secret=base64.b64encode(b"w" * 64).decode())
            return tsig_provider(self.server, ALGORITHM, key=wrong)
        failing = tsig_provider(self.server, ALGORITHM)
        failing.endpoint = replace(failing.endpoint, port=_closed_port())
        return failing
