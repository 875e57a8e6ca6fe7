from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dnsauto_dnsimple.provider import DnsimpleDnsServer, DnsimpleProvider
from dnsauto_dnsimple.testing import ACCOUNT, TOKEN, FakeDnsimple

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock

ZONE = "example.com"


def settings(**fields: Any) -> DnsimpleDnsServer:
    return DnsimpleDnsServer.model_validate(
        {
            "@type": "Dnsimple",
            "description": "test",
            "timeout": "2s",
            "authToken": {"@type": "Value", "secret": TOKEN},
            "accountIdentifier": ACCOUNT,
            **fields,
        }
    )


def make_provider(fake: FakeDnsimple, *, http: Any = None, **fields: Any) -> DnsimpleProvider:
    return DnsimpleProvider(
        settings(**fields),
        ProviderContext(server_id="dnsimple"),
        base_url=fake.base_url,
        clock=FakeClock(),
        **(http or {}),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDnsimple]:
    async with FakeDnsimple() as api:
        api.add_zone(ZONE)
        yield api


@pytest.fixture
async def dnsimple(fake: FakeDnsimple) -> AsyncIterator[DnsimpleProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()
