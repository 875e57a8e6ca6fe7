"""Settings, fixtures and provider construction shared by the tests (a module named after the
plugin: every plugin's tests run in one session, where a second ``conftest`` module would clash)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dnsauto_spaceship.provider import SpaceshipDnsServer, SpaceshipProvider
from dnsauto_spaceship.testing import API_KEY, API_SECRET, FakeSpaceship

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock

__all__ = ["ZONE", "fake", "make_provider", "settings", "spaceship"]

ZONE = "example.com"


def settings(**fields: Any) -> SpaceshipDnsServer:
    return SpaceshipDnsServer.model_validate(
        {
            "@type": "Spaceship",
            "description": "test",
            "timeout": "2s",
            "apiKey": API_KEY,
            "secret": {"@type": "Value", "secret": API_SECRET},
            **fields,
        }
    )


def make_provider(fake: FakeSpaceship, *, http: Any = None, **fields: Any) -> SpaceshipProvider:
    return SpaceshipProvider(
        settings(**fields),
        ProviderContext(server_id="ss1"),
        base_url=fake.base_url,
        clock=FakeClock(),
        **(http or {}),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeSpaceship]:
    async with FakeSpaceship() as api:
        api.add_domain(ZONE)
        yield api


@pytest.fixture
async def spaceship(fake: FakeSpaceship) -> AsyncIterator[SpaceshipProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()
