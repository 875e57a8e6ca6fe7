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
    @pytest.fixture
    async def provider(self, fake: FakeOvh) -> AsyncIterator[Provider[Any]]:
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")
