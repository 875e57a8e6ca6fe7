"""The provider contract suite, against the fake Spaceship API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from dnsauto_spaceship.testing import FakeSpaceship
from spaceship_helpers import ZONE, make_provider

from dnsauto.plugin import Provider
from dnsauto.testing import ProviderContract


class TestSpaceshipContract(ProviderContract):
    undetected_conflicts = "Spaceship's PUT upserts and DELETE removes items with no precondition"
    records_per_page = 500  # the provider asks for take=500

    @pytest.fixture
    async def provider(self, fake: FakeSpaceship) -> AsyncIterator[Provider[Any]]:
        self.fake = fake
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        assert isinstance(self.fake, FakeSpaceship)
        return make_provider(self.fake)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        assert isinstance(self.fake, FakeSpaceship)
        self.fake.add_domain(child.to_text(omit_final_dot=True))
        return child
