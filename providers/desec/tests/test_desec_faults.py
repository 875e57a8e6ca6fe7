"""deSEC under faults: throttling, server errors, timeouts, resets, refused batches, pages."""

from __future__ import annotations

import dns.name
import pytest
from desec_helpers import ZONE, make_provider
from dnsauto_desec.testing import THROTTLED, FakeDesec

from dnsauto.plugin import AuthenticationError, Create, Delete, ProviderError, TransientError
from dnsauto.plugin.http import RetryPolicy
from dnsauto.testing import make_rrset
from dnsauto.testing.fake_http import Fault

APEX = dns.name.from_text(ZONE + ".")


def txt(label: str, *values: str, ttl: int = 300):
    return make_rrset(dns.name.from_text(label, APEX), "TXT", ttl, *values)


def subnames(fake: FakeDesec) -> list[str]:
    return sorted(r["subname"] for r in fake.rrsets(ZONE))


@pytest.mark.parametrize("headers", [{"Retry-After": "3"}, {}], ids=["retry-after", "none"])
async def test_a_throttled_bulk_write_is_sent_again_and_applied_once(fake, desec, headers):
    zone = await desec.find_zone(APEX)
    fake.fail_next(Fault(match="PATCH", status=429, headers=headers, body=THROTTLED))
    await desec.apply(zone, [Create(txt("a", '"one"'))])
    assert subnames(fake) == ["a"]
    assert desec.http.counters.throttled == 1
    if headers:
        assert desec.http.clock.sleeps == [3.0]


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_on_a_bulk_write_is_retried(fake, desec, status):
    zone = await desec.find_zone(APEX)
    fake.fail_next(Fault(match="PATCH", status=status))
    await desec.apply(zone, [Create(txt("a", '"one"', '"two"'))])
    (rrset,) = fake.rrsets(ZONE)
    assert sorted(rrset["records"]) == ['"one"', '"two"']


async def test_a_connection_reset_on_a_bulk_write_is_retried(fake, desec):
    zone = await desec.find_zone(APEX)
    fake.fail_next(Fault(match="PATCH", reset=True))
    await desec.apply(zone, [Create(txt("a", '"one"'))])
    assert subnames(fake) == ["a"]


async def test_a_listing_that_times_out_is_retried(fake):
    provider = make_provider(fake, timeout="300ms")
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match="GET .*/rrsets/", stall=True))
    assert await provider.list_rrsets(zone) == []
    await provider.aclose()


async def test_server_errors_that_last_end_in_a_transient_error_after_bounded_retries(fake):
    provider = make_provider(fake, http={"retry": RetryPolicy(attempts=3)})
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match="PATCH", status=503, times=10))
    with pytest.raises(TransientError):
        await provider.apply(zone, [Create(txt("a", '"one"'))])
    await provider.aclose()
    assert fake.count("PATCH") == 3
    assert fake.rrsets(ZONE) == []


async def test_a_batch_with_a_refused_rrset_applies_nothing_and_names_that_rrset(fake, desec):
    zone = await desec.find_zone(APEX)
    fake.add_rrset(ZONE, "old", "TXT", 300, '"keep me"')
    batch = [Create(txt("fresh", '"new"')), Create(txt("long", '"x"', ttl=100_000)),
             Delete(txt("old", '"keep me"'))]  # fmt: skip
    with pytest.raises(ProviderError, match=r"nothing of it was applied: TXT long: ttl: Ensure"):
        await desec.apply(zone, batch)
    assert subnames(fake) == ["old"]
    assert fake.count("PATCH") == 1


async def test_a_batch_of_many_changes_is_one_request(fake, desec):
    zone = await desec.find_zone(APEX)
    await desec.apply(zone, [Create(txt(f"n{i}", f'"{i}"')) for i in range(40)])
    assert fake.count("PATCH") == 1
    assert len(fake.rrsets(ZONE)) == 40


async def test_the_apex_is_the_empty_subname_in_bodies(fake, desec):
    zone = await desec.find_zone(APEX)
    await desec.apply(zone, [Create(make_rrset(APEX, "MX", 300, "10 mx1.example.com."))])
    assert fake.requests[-1].body == [
        {"subname": "", "type": "MX", "ttl": 300, "records": ["10 mx1.example.com."]}
    ]


async def test_writes_to_one_domain_are_held_to_two_a_second(fake, desec):
    zone = await desec.find_zone(APEX)
    for i in range(3):
        await desec.apply(zone, [Create(txt(f"w{i}", '"v"'))])
    assert desec.http.counters.rate_limited == 1
    assert desec.http.clock.sleeps == [pytest.approx(0.5)]


async def test_refused_credentials_are_permanent_naming_the_dnsserver_and_field(fake):
    provider = make_provider(fake, secret={"@type": "Value", "secret": "wrong"})
    with pytest.raises(AuthenticationError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not caught.value.transient
    assert "'secret'" in caught.value.message
    assert "'desec1'" in caught.value.message
    assert "wrong" not in caught.value.message
    assert fake.count("GET") == 1


async def test_a_zone_of_5000_rrsets_over_cursor_pages_is_read_completely(fake, desec):
    zone = await desec.find_zone(APEX)
    for i in range(5000):
        fake.add_rrset(ZONE, f"r{i}", "TXT", 300, f'"v{i}"')
    listed = await desec.list_rrsets(zone)
    assert len({r.name for r in listed}) == 5000
    assert fake.count("GET", "rrsets") == 10


async def test_a_listing_without_a_cursor_above_500_rrsets_is_refused_by_the_fake(fake):
    for i in range(501):
        fake.add_rrset(ZONE, f"r{i}", "TXT", 300, f'"v{i}"')
    provider = make_provider(fake)
    with pytest.raises(ProviderError, match="Pagination required"):
        await provider.http.get(f"/domains/{ZONE}/rrsets/")
    await provider.aclose()


async def test_the_zone_carries_the_domains_minimum_ttl(fake, desec):
    fake.add_domain("strict.example", minimum_ttl=3600)
    zone = await desec.find_zone(dns.name.from_text("mail.strict.example."))
    assert (zone.name, zone.min_ttl) == (dns.name.from_text("strict.example."), 3600)


async def test_a_delegated_subdomain_held_by_the_account_is_its_own_zone(fake, desec):
    fake.add_domain("sub." + ZONE)
    zone = await desec.find_zone(dns.name.from_text("a.sub." + ZONE + "."))
    assert zone.id == "sub." + ZONE
