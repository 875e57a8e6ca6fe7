from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dnsauto_desec.provider import DesecDnsServer, DesecProvider
from dnsauto_desec.testing import TOKEN, FakeDesec

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock

ZONE = "example.com"


def settings(**fields: Any) -> DesecDnsServer:
    return DesecDnsServer.model_validate(
        {
            "@type": "DeSEC",
            "description": "test",
            "timeout": "2s",
            "secret": {"@type": "Value", "secret": TOKEN},
            **fields,
        }
    )


def make_provider(fake: FakeDesec, *, http: Any = None, **fields: Any) -> DesecProvider:
    return DesecProvider(
        settings(**fields),
        ProviderContext(server_id="desec1"),
        base_url=fake.base_url,
        clock=FakeClock(),
        **(http or {}),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDesec]:
    async with FakeDesec() as api:
        api.add_domain(ZONE, minimum_ttl=300)
        yield api


@pytest.fixture
async def desec(fake: FakeDesec) -> AsyncIterator[DesecProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()
