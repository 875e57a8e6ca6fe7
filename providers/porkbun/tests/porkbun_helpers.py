"""Settings, fixtures and provider construction shared by the tests (a module named after the
plugin: every plugin's tests run in one session, where a second ``conftest`` module would clash)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dnsauto_porkbun.provider import PorkbunDnsServer, PorkbunProvider
from dnsauto_porkbun.testing import API_KEY, SECRET_API_KEY, FakePorkbun

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock

__all__ = ["ZONE", "fake", "make_provider", "porkbun", "settings"]

ZONE = "example.com"


def settings(**fields: Any) -> PorkbunDnsServer:
    return PorkbunDnsServer.model_validate(
        {
            "@type": "Porkbun",
            "description": "test",
            "timeout": "2s",
            "apiKey": API_KEY,
            "secretApiKey": {"@type": "Value", "secret": SECRET_API_KEY},
            **fields,
        }
    )


def make_provider(fake: FakePorkbun, *, http: Any = None, **fields: Any) -> PorkbunProvider:
    return PorkbunProvider(
        settings(**fields),
        ProviderContext(server_id="pb1"),
        base_url=fake.base_url,
        clock=FakeClock(),
        **(http or {}),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakePorkbun]:
    async with FakePorkbun() as api:
        api.add_domain(ZONE)
        yield api


@pytest.fixture
async def porkbun(fake: FakePorkbun) -> AsyncIterator[PorkbunProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()
