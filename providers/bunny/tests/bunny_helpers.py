from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dnsauto_bunny.provider import BunnyDnsServer, BunnyProvider
from dnsauto_bunny.testing import KEY, FakeBunny

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock

ZONE = "example.com"


def settings(**fields: Any) -> BunnyDnsServer:
    return BunnyDnsServer.model_validate(
        {
            "@type": "Bunny",
            "description": "test",
            "timeout": "2s",
            "secret": {"@type": "Value", "secret": KEY},
            **fields,
        }
    )


def make_provider(fake: FakeBunny, *, http: Any = None, **fields: Any) -> BunnyProvider:
    return BunnyProvider(
        settings(**fields),
        ProviderContext(server_id="bunny"),
        base_url=fake.base_url,
        clock=FakeClock(),
        **(http or {}),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeBunny]:
    async with FakeBunny() as api:
        api.add_zone(ZONE)
        yield api


@pytest.fixture
async def bunny(fake: FakeBunny) -> AsyncIterator[BunnyProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()
