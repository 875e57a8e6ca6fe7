"""The provider contract suite against moto in server mode (through the proxy), and straight at
moto with ``hostedZoneId`` set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from route53_helpers import ZONE, Route53Proxy, make_provider

from dnsauto.plugin import Provider
from dnsauto.testing import ProviderContract


class TestRoute53(ProviderContract):
    @pytest.fixture
    async def provider(self, proxy: Route53Proxy) -> AsyncIterator[Provider[Any]]:
        provider = make_provider(proxy.base_url)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE)


class TestRoute53WithHostedZoneId(ProviderContract):
    @pytest.fixture
    async def provider(self, moto_server: str, moto: Any) -> AsyncIterator[Provider[Any]]:
        provider = make_provider(moto_server, hostedZoneId=moto.zone_id)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE)
