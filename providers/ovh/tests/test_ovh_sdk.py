"""The official SDK (python-ovh) against the fake: the fake accepts the SDK's signatures, so it
verifies them as OVH does; the plugin's endpoint table is the SDK's."""

from __future__ import annotations

import asyncio

import ovh
import ovh.client
import pytest
from dnsauto_ovh.provider import ENDPOINTS
from dnsauto_ovh.testing import APPLICATION_KEY, APPLICATION_SECRET, CONSUMER_KEY, FakeOvh
from ovh_helpers import ZONE


def sdk(fake: FakeOvh, secret: str = APPLICATION_SECRET) -> ovh.Client:
    ovh.client.ENDPOINTS["dnsauto-fake"] = fake.base_url  # the SDK takes no other URL (ovh.md)
    return ovh.Client(
        endpoint="dnsauto-fake",
        application_key=APPLICATION_KEY,
        application_secret=secret,
        consumer_key=CONSUMER_KEY,
    )


async def test_the_fake_accepts_every_request_the_sdk_signs(fake: FakeOvh):
    client = sdk(fake)
    base = f"/domain/zone/{ZONE}"
    assert await asyncio.to_thread(client.get, "/domain/zone") == [ZONE]
    created = await asyncio.to_thread(
        client.post, f"{base}/record", fieldType="TXT", subDomain="_acme-challenge",
        target="tok", ttl=60,
    )  # fmt: skip
    assert created["target"] == '"tok"'
    ids = await asyncio.to_thread(
        client.get, f"{base}/record", fieldType="TXT", subDomain="_acme-challenge"
    )
    assert ids == [created["id"]]
    await asyncio.to_thread(client.put, f"{base}/record/{created['id']}", ttl=120)
    await asyncio.to_thread(client.post, f"{base}/refresh")
    await asyncio.to_thread(client.delete, f"{base}/record/{created['id']}")
    assert fake.records(ZONE) == []
    assert all("X-Ovh-Signature" in r.headers for r in fake.requests[1:])


async def test_the_fake_refuses_an_sdk_request_signed_with_another_secret(fake: FakeOvh):
    client = sdk(fake, secret="not-the-secret")
    with pytest.raises(ovh.exceptions.BadParametersError, match="Invalid signature"):
        await asyncio.to_thread(client.get, "/domain/zone")


def test_the_endpoints_are_the_sdks_for_every_ovh_endpoint_stalwart_offers():
    assert {name: ovh.client.ENDPOINTS[name] for name in ENDPOINTS} == ENDPOINTS
