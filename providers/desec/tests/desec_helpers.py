"""Settings and provider construction shared by the tests (a module named after the plugin:
every plugin's tests run in one session, where a second ``conftest`` module would clash)."""

from __future__ import annotations

from typing import Any

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
