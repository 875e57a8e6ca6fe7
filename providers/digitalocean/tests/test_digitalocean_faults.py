"""DigitalOcean under faults: throttling, server errors, timeouts, resets, refusals, pages."""

from __future__ import annotations

import dns.name
import pytest
from digitalocean_helpers import ZONE, make_provider
from dnsauto_digitalocean.testing import THROTTLED, FakeDigitalOcean

from dnsauto.plugin import (
    AuthenticationError,
    Create,
    ProviderError,
    TransientError,
    UnsupportedError,
    Update,
)
from dnsauto.plugin.http import RetryPolicy
from dnsauto.testing import make_rrset
from dnsauto.testing.fake_http import Fault

APEX = dns.name.from_text(ZONE + ".")


def txt(label: str, *values: str):
    return make_rrset(dns.name.from_text(label, APEX), "TXT", 300, *values)


def ours(fake: FakeDigitalOcean) -> list[tuple[str, str]]:
    return sorted((r["name"], r["data"]) for r in fake.records(ZONE) if r["type"] == "TXT")


@pytest.mark.parametrize("headers", [{"Retry-After": "3"}, {}], ids=["retry-after", "none"])
async def test_a_throttled_create_is_sent_again_and_applied_once(fake, digitalocean, headers):
    zone = await digitalocean.find_zone(APEX)
    fake.fail_next(Fault(match="POST", status=429, headers=headers, body=THROTTLED))
    await digitalocean.apply(zone, [Create(txt("a", '"one"'))])
    assert ours(fake) == [("a", "one")]
    assert digitalocean.http.counters.throttled == 1
    if headers:
        assert digitalocean.http.clock.sleeps == [3.0]


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_on_an_update_is_retried(fake, digitalocean, status):
    zone = await digitalocean.find_zone(APEX)
    await digitalocean.apply(zone, [Create(txt("a", '"one"'))])
    fake.fail_next(Fault(match="PUT", status=status))
    await digitalocean.apply(zone, [Update(txt("a", '"one"'), txt("a", '"two"'))])
    assert ours(fake) == [("a", "two")]


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_on_a_create_is_not_resent_so_nothing_is_duplicated(
    fake, digitalocean, status
):
    zone = await digitalocean.find_zone(APEX)
    fake.fail_next(Fault(match="POST", status=status))
    with pytest.raises(TransientError):
        await digitalocean.apply(zone, [Create(txt("a", '"one"'))])
    assert fake.count("POST") == 1


async def test_a_connection_reset_on_a_delete_is_retried_and_a_404_then_means_done(
    fake, digitalocean
):
    zone = await digitalocean.find_zone(APEX)
    await digitalocean.apply(zone, [Create(txt("a", '"one"', '"two"'))])
    fake.fail_next(Fault(match="DELETE", reset=True))
    await digitalocean.apply(zone, [Update(txt("a", '"one"', '"two"'), txt("a", '"one"'))])
    assert ours(fake) == [("a", "one")]


async def test_a_listing_that_times_out_is_retried(fake):
    provider = make_provider(fake, timeout="300ms")
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match="GET .*/records", stall=True))
    assert [r.rdtype for r in await provider.list_rrsets(zone)] == [dns.rdatatype.NS]
    await provider.aclose()


async def test_server_errors_that_last_end_in_a_transient_error_after_bounded_retries(fake):
    provider = make_provider(fake, http={"retry": RetryPolicy(attempts=3)})
    zone = await provider.find_zone(APEX)
    await provider.apply(zone, [Create(txt("a", '"one"'))])
    fake.fail_next(Fault(match="PUT", status=503, times=10))
    with pytest.raises(TransientError):
        await provider.apply(zone, [Update(txt("a", '"one"'), txt("a", '"two"'))])
    await provider.aclose()
    assert fake.count("PUT") == 3
    assert ours(fake) == [("a", "one")]


async def test_a_failure_in_the_middle_of_an_rrset_leaves_the_calls_done_and_says_which(
    fake, digitalocean
):
    zone = await digitalocean.find_zone(APEX)
    old = make_rrset(APEX, "MX", 300, "10 mx1.example.com.")
    new = make_rrset(APEX, "MX", 300, "10 mx2.example.com.", "20 mx3.example.com.")
    await digitalocean.apply(zone, [Create(old)])
    fake.fail_next(Fault(match="POST", status=422,
                         body={"id": "unprocessable_entity", "message": "no more"}))  # fmt: skip
    with pytest.raises(ProviderError, match=r"POST /domains/example.com/records .*no more"):
        await digitalocean.apply(zone, [Update(old, new)])
    mx = sorted(r["data"] for r in fake.records(ZONE) if r["type"] == "MX")
    assert mx == ["mx2.example.com"]


async def test_tlsa_is_refused_before_any_request_naming_the_type(fake, digitalocean):
    zone = await digitalocean.find_zone(APEX)
    sent = len(fake.requests)
    tlsa = make_rrset(dns.name.from_text("_25._tcp.mail", APEX), "TLSA", 300, "3 1 1 " + "ab" * 32)
    with pytest.raises(UnsupportedError, match="type TLSA"):
        await digitalocean.apply(zone, [Create(tlsa)])
    assert len(fake.requests) == sent


async def test_foreign_values_at_a_name_are_kept_when_ours_change(fake, digitalocean):
    zone = await digitalocean.find_zone(APEX)
    fake.add_record(ZONE, {"type": "TXT", "name": "@", "data": "google-site-verification=x"})
    fake.add_record(ZONE, {"type": "TXT", "name": "@", "data": "v=spf1 -all"})
    (listed,) = [r for r in await digitalocean.list_rrsets(zone) if r.rdtype == dns.rdatatype.TXT]
    new = make_rrset(APEX, "TXT", 300, '"google-site-verification=x"', '"v=spf1 mx -all"')
    await digitalocean.apply(zone, [Update(listed, new)])
    assert ours(fake) == [("@", "google-site-verification=x"), ("@", "v=spf1 mx -all")]
    assert fake.count("PUT") == 2  # the new value in place of the old, and the TTL of the kept


async def test_refused_credentials_are_permanent_naming_the_dnsserver_and_field(fake):
    provider = make_provider(fake, secret={"@type": "Value", "secret": "wrong"})
    with pytest.raises(AuthenticationError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not caught.value.transient
    assert "'secret'" in caught.value.message
    assert "'do1'" in caught.value.message
    assert "wrong" not in caught.value.message
    assert fake.count("GET") == 1


async def test_a_zone_of_5000_records_over_many_pages_is_read_completely(fake, digitalocean):
    zone = await digitalocean.find_zone(APEX)
    for i in range(5000):
        fake.add_record(ZONE, {"type": "TXT", "name": f"r{i}", "data": f"v{i}"})
    listed = await digitalocean.list_rrsets(zone)
    assert len([r for r in listed if r.rdtype == dns.rdatatype.TXT]) == 5000
    assert fake.count("GET", "records") == 26  # 5,004 records, 200 a page


async def test_the_name_filter_takes_the_fully_qualified_name(fake, digitalocean):
    fake.add_record(ZONE, {"type": "TXT", "name": "_dmarc", "data": "v=DMARC1; p=none"})
    body = await digitalocean.http.get(
        f"/domains/{ZONE}/records", params={"name": "_dmarc." + ZONE}
    )
    assert [r["name"] for r in body["domain_records"]] == ["_dmarc"]
    relative = await digitalocean.http.get(f"/domains/{ZONE}/records", params={"name": "_dmarc"})
    assert relative["domain_records"] == []


async def test_a_delegated_subdomain_held_by_the_account_is_its_own_zone(fake, digitalocean):
    fake.add_domain("sub." + ZONE)
    fake.add_domain("notexample.com")
    zone = await digitalocean.find_zone(dns.name.from_text("a.sub." + ZONE + "."))
    assert zone.id == "sub." + ZONE
