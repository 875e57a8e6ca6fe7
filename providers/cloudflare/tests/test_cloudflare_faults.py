"""Cloudflare under faults: throttling, server errors, timeouts, resets, refused batches."""

from __future__ import annotations

import dns.name
import pytest
from cloudflare_helpers import ZONE, make_provider
from dnsauto_cloudflare.testing import FakeCloudflare

from dnsauto.plugin import AuthenticationError, Create, ProviderError, TransientError, Update
from dnsauto.plugin.http import RetryPolicy
from dnsauto.testing import make_rrset
from dnsauto.testing.fake_http import Fault

APEX = dns.name.from_text(ZONE + ".")
THROTTLED = {
    "result": None,
    "success": False,
    "messages": [],
    "errors": [{"code": 971, "message": "Please wait and consider throttling"}],
}


def txt(label: str, *values: str):
    return make_rrset(dns.name.from_text(label, APEX), "TXT", 300, *values)


async def published(provider, zone, label):
    return [r for r in await provider.list_rrsets(zone) if r.name.labels[0] == label.encode()]


@pytest.mark.parametrize("headers", [{"Retry-After": "3"}, {}], ids=["retry-after", "none"])
async def test_a_throttled_batch_is_sent_again_and_applied_once(fake, cloudflare, headers):
    zone = await cloudflare.find_zone(APEX)
    fake.fail_next(Fault(match="batch", status=429, headers=headers, body=THROTTLED))
    await cloudflare.apply(zone, [Create(txt("a", '"one"'))])
    assert len(fake.records(zone.id)) == 1
    assert cloudflare.http.counters.throttled == 1
    if headers:
        assert cloudflare.http.clock.sleeps == [3.0]


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_on_a_batch_is_retried_without_duplicates(fake, cloudflare, status):
    zone = await cloudflare.find_zone(APEX)
    fake.fail_next(Fault(match="batch", status=status))
    await cloudflare.apply(zone, [Create(txt("a", '"one"', '"two"'))])
    assert len(fake.records(zone.id)) == 2


async def test_a_connection_reset_on_a_batch_is_retried(fake, cloudflare):
    zone = await cloudflare.find_zone(APEX)
    fake.fail_next(Fault(match="batch", reset=True))
    await cloudflare.apply(zone, [Create(txt("a", '"one"'))])
    assert len(fake.records(zone.id)) == 1


async def test_a_listing_that_times_out_is_retried(fake):
    provider = make_provider(fake, timeout="300ms")
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match="dns_records", stall=True))
    assert await provider.list_rrsets(zone) == []
    await provider.aclose()


async def test_server_errors_that_last_end_in_a_transient_error_after_bounded_retries(fake):
    provider = make_provider(fake, http={"retry": RetryPolicy(attempts=3)})
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match="batch", status=503, times=10))
    with pytest.raises(TransientError):
        await provider.apply(zone, [Create(txt("a", '"one"'))])
    await provider.aclose()
    assert fake.count("POST", "batch") == 3
    assert fake.records(zone.id) == []


async def test_a_refused_batch_falls_back_to_each_record_and_names_the_refused_one(
    fake, cloudflare
):
    zone = await cloudflare.find_zone(APEX)
    taken = txt("taken", '"same"')
    fake.add_record(zone.id, {"type": "TXT", "name": "taken." + ZONE, "content": '"same"'})
    with pytest.raises(ProviderError, match=r"1 of 2 records refused.*taken\.example\.com"):
        await cloudflare.apply(zone, [Create(txt("fresh", '"new"')), Create(taken)])
    names = sorted(r["name"] for r in fake.records(zone.id))
    assert names == ["fresh.example.com", "taken.example.com"]


async def test_refused_credentials_are_permanent_naming_the_dnsserver_and_field(fake):
    provider = make_provider(fake, secret={"@type": "Value", "secret": "wrong"})
    with pytest.raises(AuthenticationError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not caught.value.transient
    assert "'secret'" in caught.value.message
    assert "'cf'" in caught.value.message
    assert "wrong" not in caught.value.message
    assert fake.count("GET") == 1


async def test_global_key_authentication_sends_email_and_key():
    async with FakeCloudflare(token="unused", email="ops@example.com", key="global-key") as fake:
        fake.add_zone(ZONE)
        provider = make_provider(
            fake, email="ops@example.com", secret={"@type": "Value", "secret": "global-key"}
        )
        assert (await provider.find_zone(APEX)).name == APEX
        await provider.aclose()
        assert "Authorization" not in fake.requests[0].headers


async def test_a_zone_of_5000_records_over_many_pages_is_read_completely(fake, cloudflare):
    zone = await cloudflare.find_zone(APEX)
    for i in range(5000):
        fake.add_record(zone.id, {"type": "TXT", "name": f"r{i}.{ZONE}", "content": f'"v{i}"'})
    listed = await cloudflare.list_rrsets(zone)
    assert len(listed) == 5000
    assert fake.count("GET", "dns_records") == 10


async def test_an_update_changes_only_the_values_that_differ(fake, cloudflare):
    zone = await cloudflare.find_zone(APEX)
    old = make_rrset(APEX, "MX", 300, "10 mx1.example.com.", "20 mx2.example.com.")
    await cloudflare.apply(zone, [Create(old)])
    (listed,) = await cloudflare.list_rrsets(zone)
    new = make_rrset(APEX, "MX", 300, "10 mx1.example.com.", "30 mx3.example.com.")
    await cloudflare.apply(zone, [Update(listed, new)])
    batch = fake.requests[-1].body
    assert list(batch) == ["patches"]
    assert len(batch["patches"]) == 1


async def test_a_ttl_below_cloudflares_minimum_is_reported_through_the_zone(cloudflare):
    zone = await cloudflare.find_zone(APEX)
    assert zone.min_ttl == 60
