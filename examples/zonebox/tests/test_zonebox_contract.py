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
    @pytest.fixture
    async def provider(self, fake: FakeZonebox) -> AsyncIterator[Provider[Any]]:
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")
