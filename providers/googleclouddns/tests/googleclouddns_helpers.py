from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import dns.rrset
import pytest
from dnsauto_googleclouddns.provider import GoogleCloudDnsProvider, GoogleCloudDnsServer
from dnsauto_googleclouddns.testing import PROJECT, FakeCloudDns, service_account_json

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock

ZONE = "example.com"
ZONE_ID = "example-com"


def settings(fake: FakeCloudDns, **fields: Any) -> GoogleCloudDnsServer:
    return GoogleCloudDnsServer.model_validate(
        {
            "@type": "GoogleCloudDns",
            "description": "test",
            "timeout": "2s",
            "serviceAccountJson": {
                "@type": "Value",
                "secret": service_account_json(fake.token_uri),
            },
            "projectId": PROJECT,
            **fields,
        }
    )


def make_provider(fake: FakeCloudDns, *, http: Any = None, **fields: Any) -> GoogleCloudDnsProvider:
    return GoogleCloudDnsProvider(
        settings(fake, **fields),
        ProviderContext(server_id="gcloud"),
        base_url=fake.base_url,
        iam_url=fake.root + "/v1",
        clock=FakeClock(),
        **(http or {}),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudDns]:
    async with FakeCloudDns() as api:
        api.add_zone(ZONE)
        yield api


@pytest.fixture
async def gcloud(fake: FakeCloudDns) -> AsyncIterator[GoogleCloudDnsProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()


def served(fake: FakeCloudDns, zone: str = ZONE_ID) -> list[dns.rrset.RRset]:
    """What the fake holds in ``zone``, as the zone's nameservers would serve it."""
    return [dns.rrset.from_text_list(r["name"], r["ttl"], "IN", r["type"], r["rrdatas"])
            for r in fake.rrsets(zone)]  # fmt: skip
