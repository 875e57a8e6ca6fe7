"""The provider contract suite, against the fake Cloudflare API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from cloudflare_helpers import ZONE, make_provider
from dnsauto_cloudflare.testing import FakeCloudflare

from dnsauto.plugin import Provider
from dnsauto.testing import ProviderContract


class TestCloudflareContract(ProviderContract):
    undetected_conflicts = (
        "Cloudflare's batch writes records by id, with no precondition on the RRset"
    )
    records_per_page = 500  # the provider asks for 500 a page

    @pytest.fixture
    async def provider(self, fake: FakeCloudflare) -> AsyncIterator[Provider[Any]]:
        self.fake = fake
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        assert isinstance(self.fake, FakeCloudflare)
        return make_provider(self.fake)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        assert isinstance(self.fake, FakeCloudflare)
        self.fake.add_zone(child.to_text(omit_final_dot=True))
        return child
