from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dnsauto_digitalocean.provider import DigitalOceanDnsServer, DigitalOceanProvider
from dnsauto_digitalocean.testing import TOKEN, FakeDigitalOcean

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock

ZONE = "example.com"


def settings(**fields: Any) -> DigitalOceanDnsServer:
    return DigitalOceanDnsServer.model_validate(
        {
            "@type": "DigitalOcean",
            "description": "test",
            "timeout": "2s",
            "secret": {"@type": "Value", "secret": TOKEN},
            **fields,
        }
    )


def make_provider(
    fake: FakeDigitalOcean, *, http: Any = None, **fields: Any
) -> DigitalOceanProvider:
    return DigitalOceanProvider(
        settings(**fields),
        ProviderContext(server_id="do1"),
        base_url=fake.base_url,
        clock=FakeClock(),
        **(http or {}),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDigitalOcean]:
    async with FakeDigitalOcean() as api:
        api.add_domain(ZONE)
        yield api


@pytest.fixture
async def digitalocean(fake: FakeDigitalOcean) -> AsyncIterator[DigitalOceanProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()
