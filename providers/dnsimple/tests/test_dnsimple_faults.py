"""DNSimple under faults: quota, server errors, timeouts, resets, a refusal mid-RRset."""

from __future__ import annotations

import dns.name
import pytest
from dnsauto_dnsimple.testing import quota_exceeded
from dnsimple_helpers import ZONE, make_provider

from dnsauto.plugin import (
    AuthenticationError,
    Create,
    PartialApplyError,
    TransientError,
    Update,
)
from dnsauto.plugin.http import RetryPolicy
from dnsauto.testing import make_rrset
from dnsauto.testing.fake_http import Fault

APEX = dns.name.from_text(ZONE + ".")
CREATE = "POST /v2/731/zones/example.com/records$"


def txt(label: str, *values: str):
    return make_rrset(dns.name.from_text(label, APEX), "TXT", 300, *values)


async def test_a_429_with_retry_after_is_sent_again_after_that_wait(fake, dnsimple):
    zone = await dnsimple.find_zone(APEX)
    fake.fail_next(Fault(match=CREATE, status=429, headers={"Retry-After": "3"}))
    await dnsimple.apply(zone, [Create(txt("a", '"one"'))])
    assert len(fake.records(ZONE)) == 1
    assert dnsimple.http.clock.sleeps == [3.0]


async def test_a_429_without_retry_after_waits_for_the_quota_reset(fake, dnsimple):
    zone = await dnsimple.find_zone(APEX)
    reset = int(dnsimple.http.clock.time()) + 20
    fake.fail_next(_at_create(reset))
    await dnsimple.apply(zone, [Create(txt("a", '"one"'))])
    assert len(fake.records(ZONE)) == 1
    assert dnsimple.http.counters.throttled == 1
    assert dnsimple.http.clock.sleeps == [pytest.approx(20, abs=1)]


def _at_create(reset: int) -> Fault:
    fault = quota_exceeded(reset)
    fault.match = CREATE
    return fault


async def test_a_quota_that_resets_past_the_retry_budget_fails_at_once_as_transient(fake):
    provider = make_provider(fake)
    fake.fail_next(quota_exceeded())  # the reset is most of an hour away
    with pytest.raises(TransientError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 120
    assert fake.count("GET") == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_on_a_create_is_retried_without_duplicates(fake, dnsimple, status):
    zone = await dnsimple.find_zone(APEX)
    fake.fail_next(Fault(match=CREATE, status=status))
    await dnsimple.apply(zone, [Create(txt("a", '"one"', '"two"'))])
    assert sorted(r["content"] for r in fake.records(ZONE)) == ['"one"', '"two"']


async def test_a_connection_reset_on_a_create_is_retried(fake, dnsimple):
    zone = await dnsimple.find_zone(APEX)
    fake.fail_next(Fault(match=CREATE, reset=True))
    await dnsimple.apply(zone, [Create(txt("a", '"one"'))])
    assert len(fake.records(ZONE)) == 1


async def test_a_listing_that_times_out_is_retried(fake):
    provider = make_provider(fake, timeout="300ms")
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match="records", stall=True))
    assert await provider.list_rrsets(zone) == []
    await provider.aclose()


async def test_server_errors_that_last_end_in_a_transient_error_after_bounded_retries(fake):
    provider = make_provider(fake, http={"retry": RetryPolicy(attempts=3)})
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match=CREATE, status=503, times=10))
    with pytest.raises(TransientError):
        await provider.apply(zone, [Create(txt("a", '"one"'))])
    await provider.aclose()
    assert fake.count("POST") == 3
    assert fake.records(ZONE) == []


async def test_a_refusal_mid_rrset_names_the_records_written_and_not_written(fake, dnsimple):
    zone = await dnsimple.find_zone(APEX)
    await dnsimple.apply(zone, [Create(txt("a", '"one"'))])
    (listed,) = await dnsimple.list_rrsets(zone)
    refused = {"message": "Validation failed", "errors": {"content": ["is invalid"]}}
    fake.fail_next(Fault(match=CREATE, status=400, body=refused))
    update = Update(listed, txt("a", '"two"', '"three"'))
    with pytest.raises(PartialApplyError) as caught:
        await dnsimple.apply(zone, [update])
    assert caught.value.partly_applied == (update,)  # the journal knows it is half written
    made, not_made = caught.value.message.split("not made: ")
    assert "Validation failed" in made
    assert 'update a.example.com. TXT "three"' in made or 'update a.example.com. TXT "two"' in made
    assert "create a.example.com. TXT" in not_made
    assert len(fake.records(ZONE)) == 1  # the value rewritten in place; the create not made


async def test_refused_credentials_are_permanent_naming_the_dnsserver_and_field(fake):
    provider = make_provider(fake, authToken={"@type": "Value", "secret": "wrong"})
    with pytest.raises(AuthenticationError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not caught.value.transient
    assert "'authToken'" in caught.value.message
    assert "'dnsimple'" in caught.value.message
    assert "wrong" not in caught.value.message
    assert fake.count("GET") == 1


async def test_an_account_the_token_does_not_reach_is_permanent_naming_the_account_field(fake):
    provider = make_provider(fake, accountIdentifier="999")
    with pytest.raises(AuthenticationError, match="'accountIdentifier'"):
        await provider.find_zone(APEX)
    await provider.aclose()


def test_the_seeds_unused_secret_is_accepted_and_ignored():
    from dnsimple_helpers import settings

    assert settings(secret={"@type": "Value", "secret": "ignored"}).secret is not None
    assert settings().secret is None


async def test_a_zone_of_5000_records_over_many_pages_is_read_completely(fake, dnsimple):
    zone = await dnsimple.find_zone(APEX)
    for i in range(5000):
        fake.add_record(ZONE, {"type": "TXT", "name": f"r{i}", "content": f"v{i}"})
    listed = await dnsimple.list_rrsets(zone)
    assert len(listed) == 5000
    assert fake.count("GET", "records") == 51  # 5,005 records with the SOA and NS, 100 a page


async def test_an_update_changes_only_the_values_that_differ(fake, dnsimple):
    zone = await dnsimple.find_zone(APEX)
    old = make_rrset(APEX, "MX", 300, "10 mx1.example.com.", "20 mx2.example.com.")
    await dnsimple.apply(zone, [Create(old)])
    (listed,) = [r for r in await dnsimple.list_rrsets(zone) if r.rdtype == old.rdtype]
    before = len(fake.requests)
    new = make_rrset(APEX, "MX", 300, "10 mx1.example.com.", "30 mx3.example.com.")
    await dnsimple.apply(zone, [Update(listed, new)])
    (patch,) = fake.requests[before:]
    assert patch.method == "PATCH"
    assert patch.body == {"name": "", "ttl": 300, "priority": 30, "content": "mx3.example.com"}


async def test_a_delegated_subzone_is_found_as_its_own_zone(fake, dnsimple):
    fake.add_zone("sub.example.com")
    zone = await dnsimple.find_zone(dns.name.from_text("_dmarc.sub.example.com."))
    assert zone.name == dns.name.from_text("sub.example.com.")
    other = await dnsimple.find_zone(dns.name.from_text("notsub.example.com."))
    assert other.name == APEX
