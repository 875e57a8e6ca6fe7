"""The provider contract suite, run against the in-memory provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.name
import pytest

from dnsauto.plugin.context import ProviderContext
from dnsauto.plugin.provider import Provider
from dnsauto.testing import Failure, ProviderContract
from dnsauto.testing.memory import MemoryHost, MemoryProvider, MemorySettings


class TestMemoryProvider(ProviderContract):
    unpaged = "the memory host hands back its dict of RRsets in one call"

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        assert isinstance(provider, MemoryProvider)
        other = MemoryProvider(provider.settings, provider.context)
        other.host = provider.host
        return other

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        assert isinstance(provider, MemoryProvider)
        provider.host.add_zone(child.to_text())
        return child

    async def fail_next(self, provider: Provider[Any], failure: Failure) -> Provider[Any] | str:
        return "the memory host has no credentials and no network to lose"

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
