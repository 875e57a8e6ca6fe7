"""The provider contract suite, against the fake Porkbun API (TTLs raised to Porkbun's 600)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from dnsauto_porkbun.testing import FakePorkbun
from porkbun_helpers import ZONE, make_provider

from dnsauto.plugin import Provider
from dnsauto.testing import ProviderContract


class TestPorkbunContract(ProviderContract):
    undetected_conflicts = (
        "Porkbun writes record by record by id, with no precondition on the RRset"
    )
    unpaged = "dns/retrieve answers every record of the domain at once"

    @pytest.fixture
    async def provider(self, fake: FakePorkbun) -> AsyncIterator[Provider[Any]]:
        self.fake = fake
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        assert isinstance(self.fake, FakePorkbun)
        return make_provider(self.fake)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        assert isinstance(self.fake, FakePorkbun)
        self.fake.add_domain(child.to_text(omit_final_dot=True))
        return child
