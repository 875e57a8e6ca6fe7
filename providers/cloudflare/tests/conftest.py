from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cloudflare_helpers import ZONE, make_provider
from dnsauto_cloudflare.provider import CloudflareProvider
from dnsauto_cloudflare.testing import FakeCloudflare


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
