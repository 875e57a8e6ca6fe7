"""The provider contract suite, run against BIND, Knot and PowerDNS with a TSIG key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import dns.name
import pytest
from dnsauto_rfc2136.provider import TsigProvider
from rfc2136_testing import tsig_provider

from dnsauto.testing import ProviderContract
from dnsauto.testing.servers import ZONE, RunningServer

pytestmark = pytest.mark.servers


class TestTsigProviderContract(ProviderContract):
    @pytest.fixture
    async def provider(self, dns_server: RunningServer) -> AsyncIterator[TsigProvider]:
        provider = tsig_provider(dns_server, "hmac-sha512")
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE)
