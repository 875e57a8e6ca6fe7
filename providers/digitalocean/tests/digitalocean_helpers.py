"""Settings and provider construction shared by the tests (a module named after the plugin:
every plugin's tests run in one session, where a second ``conftest`` module would clash)."""

from __future__ import annotations

from typing import Any

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
