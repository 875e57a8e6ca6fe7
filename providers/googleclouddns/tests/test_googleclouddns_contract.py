"""The provider contract suite, against the fake Cloud DNS API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest
from dnsauto_googleclouddns.testing import FakeCloudDns
from googleclouddns_helpers import ZONE, make_provider

from dnsauto.plugin import Provider
from dnsauto.testing import ProviderContract


class TestGoogleCloudDnsContract(ProviderContract):
    @pytest.fixture
    async def provider(self, fake: FakeCloudDns) -> AsyncIterator[Provider[Any]]:
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")
