from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dnsauto_cloudflare.provider import CloudflareDnsServer, CloudflareProvider
from dnsauto_cloudflare.testing import TOKEN, FakeCloudflare

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock

ZONE = "example.com"


def settings(**fields: Any) -> CloudflareDnsServer:
    return CloudflareDnsServer.model_validate(
        {
            "@type": "Cloudflare",
            "description": "test",
            "timeout": "2s",
            "secret": {"@type": "Value", "secret": TOKEN},
            **fields,
        }
    )


def make_provider(fake: FakeCloudflare, *, http: Any = None, **fields: Any) -> CloudflareProvider:
    return CloudflareProvider(
        settings(**fields),
        ProviderContext(server_id="cf"),
        base_url=fake.base_url,
        clock=FakeClock(),
        **(http or {}),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare() as api:
        api.add_zone(ZONE)
        yield api


@pytest.fixture
async def cloudflare(fake: FakeCloudflare) -> AsyncIterator[CloudflareProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()
