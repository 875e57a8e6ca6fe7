from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from digitalocean_helpers import ZONE, make_provider
from dnsauto_digitalocean.provider import DigitalOceanProvider
from dnsauto_digitalocean.testing import FakeDigitalOcean


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
