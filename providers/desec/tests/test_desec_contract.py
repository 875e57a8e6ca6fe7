"""The provider contract suite, against the fake deSEC API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from desec_helpers import ZONE, make_provider
from dnsauto_desec.testing import FakeDesec

from dnsauto.plugin import Provider
from dnsauto.testing import ProviderContract


class TestDesecContract(ProviderContract):
    undetected_conflicts = (
        "deSEC's bulk PATCH replaces RRsets with no precondition (no ETag or If-Match)"
    )
    records_per_page = 500  # deSEC pages RRsets by cursor past 500

    @pytest.fixture
    async def provider(self, fake: FakeDesec) -> AsyncIterator[Provider[Any]]:
        self.fake = fake
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        assert isinstance(self.fake, FakeDesec)
        return make_provider(self.fake)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        assert isinstance(self.fake, FakeDesec)
        self.fake.add_domain(child.to_text(omit_final_dot=True))
        return child
