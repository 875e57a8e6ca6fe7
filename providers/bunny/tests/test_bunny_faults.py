"""Bunny under faults: throttling, server errors, timeouts, resets, a refusal mid-RRset."""

from __future__ import annotations

import dns.name
import pytest
from bunny_helpers import ZONE, make_provider
from dnsauto_bunny.testing import TYPES, FakeBunny

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
ADD = r"PUT /dnszone/\d+/records$"


def txt(label: str, *values: str):
    return make_rrset(dns.name.from_text(label, APEX), "TXT", 300, *values)


def zone_id(fake: FakeBunny) -> int:
    (only,) = fake.zones
    return only


@pytest.mark.parametrize("headers", [{"Retry-After": "3"}, {}], ids=["retry-after", "none"])
async def test_a_throttled_add_is_sent_again_and_applied_once(fake, bunny, headers):
    zone = await bunny.find_zone(APEX)
    fake.fail_next(Fault(match=ADD, status=429, headers=headers))
    await bunny.apply(zone, [Create(txt("a", '"one"'))])
    assert len(fake.records(zone_id(fake))) == 1
    assert bunny.http.counters.throttled == 1
    if headers:
        assert bunny.http.clock.sleeps == [3.0]


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_on_an_add_is_retried_without_duplicates(fake, bunny, status):
    zone = await bunny.find_zone(APEX)
    fake.fail_next(Fault(match=ADD, status=status))
    await bunny.apply(zone, [Create(txt("a", '"one"', '"two"'))])
    assert sorted(r["Value"] for r in fake.records(zone_id(fake))) == ["one", "two"]


async def test_a_connection_reset_on_an_add_is_retried(fake, bunny):
    zone = await bunny.find_zone(APEX)
    fake.fail_next(Fault(match=ADD, reset=True))
    await bunny.apply(zone, [Create(txt("a", '"one"'))])
    assert len(fake.records(zone_id(fake))) == 1


async def test_a_zone_read_that_times_out_is_retried(fake):
    provider = make_provider(fake, timeout="300ms")
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match=r"GET /dnszone/\d+$", stall=True))
    assert await provider.list_rrsets(zone) == []
    await provider.aclose()


async def test_server_errors_that_last_end_in_a_transient_error_after_bounded_retries(fake):
    provider = make_provider(fake, http={"retry": RetryPolicy(attempts=3)})
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match=ADD, status=503, times=10))
    with pytest.raises(TransientError):
        await provider.apply(zone, [Create(txt("a", '"one"'))])
    await provider.aclose()
    assert fake.count("PUT") == 3
    assert fake.records(zone_id(fake)) == []


async def test_a_refusal_mid_rrset_names_the_records_written_and_not_written(fake, bunny):
    zone = await bunny.find_zone(APEX)
    await bunny.apply(zone, [Create(txt("a", '"one"'))])
    (listed,) = await bunny.list_rrsets(zone)
    refused = {"ErrorKey": "validation_error", "Field": "Value", "Message": "Invalid value"}
    fake.fail_next(Fault(match=ADD, status=400, body=refused))
    update = Update(listed, txt("a", '"two"', '"three"'))
    with pytest.raises(PartialApplyError) as caught:
        await bunny.apply(zone, [update])
    assert caught.value.partly_applied == (update,)  # the journal knows it is half written
    made, not_made = caught.value.message.split("not made: ")
    assert "Invalid value (Value)" in made
    assert "made before it: update a.example.com. TXT" in made
    assert "create a.example.com. TXT" in not_made
    assert len(fake.records(zone_id(fake))) == 1  # the value rewritten in place; the add not made


async def test_refused_credentials_are_permanent_naming_the_dnsserver_and_field(fake):
    provider = make_provider(fake, secret={"@type": "Value", "secret": "wrong"})
    with pytest.raises(AuthenticationError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not caught.value.transient
    assert "'secret'" in caught.value.message
    assert "'bunny'" in caught.value.message
    assert "wrong" not in caught.value.message
    assert fake.count("GET") == 1


async def test_a_zone_of_5000_records_is_read_completely(fake, bunny):
    zone = await bunny.find_zone(APEX)
    for i in range(5000):
        fake.add_record(zone_id(fake), {"Type": TYPES["TXT"], "Name": f"r{i}", "Value": f"v{i}"})
    listed = await bunny.list_rrsets(zone)
    assert len(listed) == 5000
    assert fake.count("GET", r"/dnszone/\d+$") == 1  # Bunny answers a zone with all its records


async def test_zones_over_many_pages_are_all_listed(fake):
    for i in range(2500):
        fake.add_zone(f"z{i}.example.net")
    provider = make_provider(fake)
    zone = await provider.find_zone(dns.name.from_text("_dmarc.z2499.example.net."))
    await provider.aclose()
    assert zone.name == dns.name.from_text("z2499.example.net.")
    assert fake.count("GET", "^/dnszone$") == 3  # 2,501 zones, 1,000 a page


async def test_an_update_changes_only_the_values_that_differ(fake, bunny):
    zone = await bunny.find_zone(APEX)
    old = make_rrset(APEX, "MX", 300, "10 mx1.example.com.", "20 mx2.example.com.")
    await bunny.apply(zone, [Create(old)])
    (listed,) = await bunny.list_rrsets(zone)
    before = len(fake.requests)
    new = make_rrset(APEX, "MX", 300, "10 mx1.example.com.", "30 mx3.example.com.")
    await bunny.apply(zone, [Update(listed, new)])
    (update,) = fake.requests[before:]
    assert update.method == "POST"
    assert update.body == {"Id": int(update.path.rsplit("/", 1)[1]), "Type": 4, "Ttl": 300,
                           "Name": "", "Priority": 30, "Value": "mx3.example.com"}  # fmt: skip


async def test_records_of_bunnys_own_types_are_left_alone(fake, bunny):
    zone = await bunny.find_zone(APEX)
    fake.add_record(zone_id(fake), {"Type": TYPES["PullZone"], "Name": "cdn", "Value": "pz-1"})
    assert await bunny.list_rrsets(zone) == []


async def test_a_delegated_subzone_is_found_as_its_own_zone(fake, bunny):
    fake.add_zone("sub.example.com")
    zone = await bunny.find_zone(dns.name.from_text("_dmarc.sub.example.com."))
    assert zone.name == dns.name.from_text("sub.example.com.")
    other = await bunny.find_zone(dns.name.from_text("notsub.example.com."))
    assert other.name == APEX
