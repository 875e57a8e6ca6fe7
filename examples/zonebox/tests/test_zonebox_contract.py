"""dnsauto's provider contract suite, against the fake Zonebox API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from dnsauto_zonebox.testing import FakeZonebox
from zonebox_helpers import ZONE, make_provider

from dnsauto.plugin import Provider
from dnsauto.testing import ProviderContract


class TestZoneboxContract(ProviderContract):
    undetected_conflicts = "Zonebox's PUT replaces an RRset with no precondition"
    unpaged = "GET /zones/{zone}/rrsets answers every RRset at once"

    @pytest.fixture
    async def provider(self, fake: FakeZonebox) -> AsyncIterator[Provider[Any]]:
        self.fake = fake  # the default fail_next queues its faults here
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        assert isinstance(self.fake, FakeZonebox)
        return make_provider(self.fake)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        assert isinstance(self.fake, FakeZonebox)
        self.fake.add_zone(child.to_text(omit_final_dot=True))
        return child
