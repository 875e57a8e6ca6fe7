"""Fixtures for the Zonebox tests (a module named after the plugin, imported by conftest.py:
when several plugins' tests run in one pytest session, their conftest modules would clash)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from dnsauto_zonebox.provider import ZoneboxDnsServer, ZoneboxProvider
from dnsauto_zonebox.testing import TOKEN, FakeZonebox

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock

__all__ = ["ZONE", "fake", "make_provider", "settings", "zonebox"]

ZONE = "example.com"


def settings(secret: str = TOKEN) -> ZoneboxDnsServer:
    secret_field = {"@type": "Value", "secret": secret}
    return ZoneboxDnsServer.model_validate(
        {"@type": "Zonebox", "description": "test", "timeout": "2s", "secret": secret_field}
    )


def make_provider(fake: FakeZonebox, secret: str = TOKEN) -> ZoneboxProvider:
    # base_url points the toolkit's client at the fake; FakeClock makes waits instant.
    context = ProviderContext(server_id="zonebox")
    return ZoneboxProvider(settings(secret), context, base_url=fake.base_url, clock=FakeClock())


@pytest.fixture
async def fake() -> AsyncIterator[FakeZonebox]:
    async with FakeZonebox() as api:
        for name in ("a-first.test", ZONE, "sub.example.com", "z-last.test"):
            api.add_zone(name)  # two pages of zones, and a delegated child zone
        yield api


@pytest.fixture
async def zonebox(fake: FakeZonebox) -> AsyncIterator[ZoneboxProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()
