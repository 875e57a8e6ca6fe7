"""The provider contract suite, against the fake DigitalOcean API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from digitalocean_helpers import ZONE, make_provider
from dnsauto_digitalocean.testing import FakeDigitalOcean

from dnsauto.plugin import Provider
from dnsauto.testing import ProviderContract


class TestDigitalOceanContract(ProviderContract):
    undetected_conflicts = (
        "DigitalOcean writes record by record by id, with no precondition on the RRset"
    )
    records_per_page = 200  # the provider asks for per_page=200

    @pytest.fixture
    async def provider(self, fake: FakeDigitalOcean) -> AsyncIterator[Provider[Any]]:
        self.fake = fake
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        assert isinstance(self.fake, FakeDigitalOcean)
        return make_provider(self.fake)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        assert isinstance(self.fake, FakeDigitalOcean)
        self.fake.add_domain(child.to_text(omit_final_dot=True))
        return child
