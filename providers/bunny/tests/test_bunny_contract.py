"""The provider contract suite, against the fake Bunny API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from bunny_helpers import ZONE, make_provider
from dnsauto_bunny.testing import FakeBunny

from dnsauto.plugin import Provider
from dnsauto.testing import ProviderContract


class TestBunnyContract(ProviderContract):
    undetected_conflicts = "Bunny writes record by record by id, with no precondition on the RRset"
    unpaged = "GET /dnszone/{id} answers the zone with every record in it"

    @pytest.fixture
    async def provider(self, fake: FakeBunny) -> AsyncIterator[Provider[Any]]:
        self.fake = fake
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        assert isinstance(self.fake, FakeBunny)
        return make_provider(self.fake)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        assert isinstance(self.fake, FakeBunny)
        self.fake.add_zone(child.to_text(omit_final_dot=True))
        return child
