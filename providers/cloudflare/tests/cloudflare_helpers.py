"""Settings and provider construction shared by the tests (a module named after the plugin:
every plugin's tests run in one session, where a second ``conftest`` module would clash)."""

from __future__ import annotations

from typing import Any

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
