"""The provider contract suite, against the fake OVH API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from dnsauto_ovh.testing import FakeOvh
from ovh_helpers import ZONE, make_provider

from dnsauto.plugin import Provider
from dnsauto.testing import ProviderContract


class TestOvhContract(ProviderContract):
    undetected_conflicts = "OVH writes record by record by id, with no precondition on the RRset"
    unpaged = "GET /domain/zone/{zone}/record answers every record id in one list"

    @pytest.fixture
    async def provider(self, fake: FakeOvh) -> AsyncIterator[Provider[Any]]:
        self.fake = fake
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        assert isinstance(self.fake, FakeOvh)
        return make_provider(self.fake)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        assert isinstance(self.fake, FakeOvh)
        self.fake.add_zone(child.to_text(omit_final_dot=True))
        return child
