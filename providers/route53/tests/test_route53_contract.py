"""The provider contract suite against moto in server mode (through the proxy, which answers as
AWS where moto does not), with and without ``hostedZoneId`` set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from dnsauto_route53.provider import Route53Provider
from route53_helpers import ZONE, Route53Proxy, add_zone, make_provider, xml_fault

from dnsauto.plugin import Provider
from dnsauto.testing import Failure, ProviderContract


class _Route53Contract(ProviderContract):
    records_per_page = 300  # the provider asks ListResourceRecordSets for MaxItems=300
    url = ""
    moto_client: Any = None

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        return Route53Provider(provider.settings, provider.context, endpoint_url=self.url)


class TestRoute53(_Route53Contract):
    @pytest.fixture
    async def provider(self, proxy: Route53Proxy, moto: Any) -> AsyncIterator[Provider[Any]]:
        self.fake, self.url, self.moto_client = proxy, proxy.base_url, moto
        proxy.preconditions = True
        provider = make_provider(proxy.base_url)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        add_zone(self.moto_client, child.to_text())
        return child

    async def fail_next(self, provider: Provider[Any], failure: Failure) -> Provider[Any] | str:
        assert isinstance(self.fake, Route53Proxy)
        if failure == "credentials":
            fault = xml_fault("", "InvalidClientTokenId", "The security token is invalid.", 403)
        else:
            fault = xml_fault("", "ServiceUnavailable", "Service unavailable.", 503)
        fault.times = 1_000
        self.fake.fail_next(fault)
        return provider


class TestRoute53WithHostedZoneId(TestRoute53):
    no_child_zones = "hostedZoneId pins the provider to the one hosted zone it names"

    @pytest.fixture
    async def provider(self, proxy: Route53Proxy, moto: Any) -> AsyncIterator[Provider[Any]]:
        self.fake, self.url, self.moto_client = proxy, proxy.base_url, moto
        proxy.preconditions = True
        provider = make_provider(proxy.base_url, hostedZoneId=moto.zone_id)
        yield provider
        await provider.aclose()
