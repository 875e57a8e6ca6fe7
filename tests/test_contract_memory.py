"""The provider contract suite, run against the in-memory provider."""

from __future__ import annotations

from collections.abc import AsyncIterator

import dns.name
import pytest

from dnsauto.plugin.context import ProviderContext
from dnsauto.testing import ProviderContract
from dnsauto.testing.memory import MemoryHost, MemoryProvider, MemorySettings


class TestMemoryProvider(ProviderContract):
    @pytest.fixture
    async def provider(self) -> AsyncIterator[MemoryProvider]:
        host = MemoryHost()
        host.add_zone("example.test.")
        settings = MemorySettings.model_validate({"@type": "Memory", "description": "memory"})
        provider = MemoryProvider(settings, ProviderContext(server_id="memory"))
        provider.host = host
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text("example.test.")
