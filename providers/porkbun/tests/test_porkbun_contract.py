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
    @pytest.fixture
    async def provider(self, fake: FakePorkbun) -> AsyncIterator[Provider[Any]]:
        provider = make_provider(fake)
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(ZONE + ".")
