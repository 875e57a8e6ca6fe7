from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dnsauto_ovh.provider import OvhDnsServer, OvhProvider
from dnsauto_ovh.testing import APPLICATION_KEY, APPLICATION_SECRET, CONSUMER_KEY, FakeOvh

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock

ZONE = "example.com"


def settings(**fields: Any) -> OvhDnsServer:
    return OvhDnsServer.model_validate(
        {
            "@type": "Ovh",
            "description": "test",
            "timeout": "2s",
            "applicationKey": APPLICATION_KEY,
            "applicationSecret": {"@type": "Value", "secret": APPLICATION_SECRET},
            "consumerKey": {"@type": "Value", "secret": CONSUMER_KEY},
            **fields,
        }
    )


def make_provider(
    fake: FakeOvh, *, http: Any = None, clock: FakeClock | None = None, **fields: Any
) -> OvhProvider:
    return OvhProvider(
        settings(**fields),
        ProviderContext(server_id="ovh"),
        base_url=fake.base_url,
        clock=clock or FakeClock(),
        **(http or {}),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeOvh]:
    async with FakeOvh() as api:
        api.add_zone(ZONE)
        yield api


@pytest.fixture
async def ovh(fake: FakeOvh) -> AsyncIterator[OvhProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()
