"""Spaceship's upsert and delete semantics, limits and faults: one PUT and at most one DELETE a
batch, 404 on a delete of nothing, 429 with Retry-After, 422 naming the field, TTL 60-3600,
split SRV/TLSA names, refused keys and secrets kept out of every text."""

from __future__ import annotations

import logging

import dns.name
import dns.rdatatype
import pytest
from dnsauto_spaceship.testing import API_SECRET, THROTTLED, FakeSpaceship
from spaceship_helpers import ZONE, make_provider

from dnsauto.plugin import (
    AuthenticationError,
    Create,
    Delete,
    PartialApplyError,
    ProviderError,
    TransientError,
    UnsupportedError,
    Update,
    ZoneNotFoundError,
)
from dnsauto.plugin.http import RetryPolicy
from dnsauto.testing import make_rrset
from dnsauto.testing.fake_http import Fault

APEX = dns.name.from_text(ZONE + ".")


def txt(label: str, *values: str, ttl: int = 300):
    return make_rrset(dns.name.from_text(label, APEX), "TXT", ttl, *values)


def ours(fake: FakeSpaceship) -> list[tuple[str, str]]:
    return sorted((r["name"], r["value"]) for r in fake.records(ZONE) if r["type"] == "TXT")


def writes(fake: FakeSpaceship) -> list[str]:
    return [r.method for r in fake.requests if r.method in ("PUT", "DELETE")]


async def test_a_batch_is_one_put_and_one_delete_not_a_call_per_record(fake, spaceship):
    zone = await spaceship.find_zone(APEX)
    first = [Create(txt(f"r{i}", '"a"', '"b"')) for i in range(10)]
    await spaceship.apply(zone, first)
    assert writes(fake) == ["PUT"]
    (put,) = [r for r in fake.requests if r.method == "PUT"]
    assert (put.body["force"], len(put.body["items"])) == (True, 20)
    second = [Update(txt(f"r{i}", '"a"', '"b"'), txt(f"r{i}", '"a"', '"c"')) for i in range(10)]
    await spaceship.apply(zone, second)
    assert writes(fake) == ["PUT", "PUT", "DELETE"]
    assert ours(fake) == sorted([(f"r{i}", v) for i in range(10) for v in ("a", "c")])


async def test_a_ttl_change_re_puts_the_kept_values_and_the_upsert_only_re_times_them(
    fake, spaceship
):
    zone = await spaceship.find_zone(APEX)
    await spaceship.apply(zone, [Create(txt("a", '"one"', '"two"'))])
    await spaceship.apply(
        zone, [Update(txt("a", '"one"', '"two"'), txt("a", '"one"', '"two"', ttl=900))]
    )
    assert writes(fake) == ["PUT", "PUT"]
    assert sorted((r["value"], r["ttl"]) for r in fake.records(ZONE)) == [
        ("one", 900),
        ("two", 900),
    ]


async def test_a_delete_of_records_already_gone_answers_404_and_counts_as_done(fake, spaceship):
    zone = await spaceship.find_zone(APEX)
    await spaceship.apply(zone, [Create(txt("a", '"one"'))])
    fake.domains[ZONE].clear()
    await spaceship.apply(zone, [Delete(txt("a", '"one"'))])
    assert fake.count("DELETE") == 1
    assert fake.requests[-1].body == [{"type": "TXT", "name": "a", "value": "one"}]


async def test_the_apex_is_at_and_srv_and_tlsa_names_are_split(fake, spaceship):
    zone = await spaceship.find_zone(APEX)
    srv = make_rrset(
        dns.name.from_text("_imaps._tcp", APEX), "SRV", 300, "0 1 993 mail.example.com."
    )
    tlsa = make_rrset(dns.name.from_text("_25._tcp.mail", APEX), "TLSA", 300, "3 1 1 " + "ab" * 32)
    mx = make_rrset(APEX, "MX", 300, "10 mail.example.com.")
    await spaceship.apply(zone, [Create(srv), Create(tlsa), Create(mx)])
    by_type = {r["type"]: r for r in fake.records(ZONE)}
    assert (by_type["MX"]["name"], by_type["MX"]["exchange"]) == ("@", "mail.example.com")
    assert (by_type["SRV"]["name"], by_type["SRV"]["service"], by_type["SRV"]["protocol"]) == (
        "@",
        "_imaps",
        "_tcp",
    )
    assert (by_type["TLSA"]["name"], by_type["TLSA"]["port"]) == ("mail", "_25")
    listed = {(r.name, r.rdtype) for r in await spaceship.list_rrsets(zone)}
    assert {(srv.name, srv.rdtype), (tlsa.name, tlsa.rdtype), (APEX, dns.rdatatype.MX)} <= listed


async def test_spaceship_own_records_are_not_listed_as_ours(fake, spaceship):
    fake.add_record(
        ZONE, {"type": "A", "name": "@", "ttl": 3600, "address": "192.0.2.9"}, "product"
    )
    fake.add_record(ZONE, {"type": "A", "name": "www", "ttl": 3600, "address": "192.0.2.1"})
    zone = await spaceship.find_zone(APEX)
    assert [r.name.to_text() for r in await spaceship.list_rrsets(zone)] == ["www.example.com."]


@pytest.mark.parametrize("ttl", [30, 7200])
async def test_a_ttl_outside_60_to_3600_is_refused_before_any_request(fake, spaceship, ttl):
    zone = await spaceship.find_zone(APEX)
    with pytest.raises(UnsupportedError, match=f"TTL {ttl}s .*'ttl' of DnsServer 'ss1'"):
        await spaceship.apply(zone, [Create(txt("a", '"one"', ttl=ttl))])
    assert writes(fake) == []


async def test_a_422_names_the_field_and_is_permanent(fake, spaceship):
    zone = await spaceship.find_zone(APEX)
    fake.fail_next(Fault(match="PUT", status=422, body={"detail": "^$", "data": [
        {"field": "name", "details": "The domain name contains invalid characters"}]}))  # fmt: skip
    with pytest.raises(
        ProviderError, match="name: The domain name contains invalid characters"
    ) as caught:
        await spaceship.apply(zone, [Create(txt("a", '"one"'))])
    assert not caught.value.transient


async def test_a_whitespace_only_txt_is_refused_by_spaceship_naming_the_field(fake, spaceship):
    blank = {"items": [{"type": "TXT", "name": "a", "ttl": 300, "value": "  "}]}
    with pytest.raises(ProviderError, match=r"items\[0\]\.value: Value field is required"):
        await spaceship.http.request("PUT", f"/dns/records/{ZONE}", json=blank)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_a_429_is_retried_after_retry_after_even_for_writes(fake, spaceship, method):
    zone = await spaceship.find_zone(APEX)
    await spaceship.apply(zone, [Create(txt("a", '"one"'))])
    fake.fail_next(Fault(match=method, status=429, headers={"Retry-After": "42"}, body=THROTTLED))
    await spaceship.apply(zone, [Update(txt("a", '"one"'), txt("a", '"two"'))])
    assert ours(fake) == [("a", "two")]
    assert spaceship.http.clock.sleeps == [42.0]
    assert spaceship.http.counters.throttled == 1


async def test_server_errors_that_last_end_in_a_transient_error_after_bounded_retries(fake):
    provider = make_provider(fake, http={"retry": RetryPolicy(attempts=3)})
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match="PUT", status=503, times=10))
    with pytest.raises(TransientError):
        await provider.apply(zone, [Create(txt("a", '"one"'))])
    await provider.aclose()
    assert fake.count("PUT") == 3


async def test_a_failed_delete_after_the_put_says_which_changes_went_through(fake, spaceship):
    zone = await spaceship.find_zone(APEX)
    await spaceship.apply(zone, [Create(txt("a", '"one"')), Create(txt("b", '"x"'))])
    fake.fail_next(Fault(match="DELETE", status=400, body={"detail": "no"}))
    changes = [Create(txt("c", '"new"')), Update(txt("a", '"one"'), txt("a", '"two"'))]
    with pytest.raises(PartialApplyError) as caught:
        await spaceship.apply(zone, changes)
    assert (caught.value.applied, caught.value.partly_applied) == ((changes[0],), (changes[1],))


async def test_a_connection_reset_on_a_listing_is_retried(fake, spaceship):
    zone = await spaceship.find_zone(APEX)
    fake.fail_next(Fault(match="GET .*/dns/records", reset=True))
    assert await spaceship.list_rrsets(zone) == []


async def test_a_zone_of_1200_records_is_read_over_pages_of_500(fake, spaceship):
    for i in range(1200):
        fake.add_record(ZONE, {"type": "TXT", "name": f"r{i}", "ttl": 300, "value": f"v{i}"})
    zone = await spaceship.find_zone(APEX)
    assert len(await spaceship.list_rrsets(zone)) == 1200
    assert fake.count("GET", "/dns/records") == 3


async def test_a_domain_not_in_the_account_is_zone_not_found(fake, spaceship):
    with pytest.raises(ZoneNotFoundError):
        await spaceship.find_zone(dns.name.from_text("other.test."))
    zone = await spaceship.find_zone(APEX)
    del fake.domains[ZONE]
    with pytest.raises(ZoneNotFoundError):
        await spaceship.list_rrsets(zone)


async def test_refused_keys_are_permanent_and_no_secret_is_shown(fake, caplog):
    caplog.set_level(logging.DEBUG)
    provider = make_provider(fake, secret={"@type": "Value", "secret": "wrong-secret"})
    fake.fail_next(Fault(match="GET", status=500))
    with pytest.raises(AuthenticationError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not caught.value.transient
    assert "'apiKey' and 'secret' of DnsServer 'ss1'" in caught.value.message
    shown = [str(caught.value), repr(caught.value), repr(provider.http), repr(provider.settings),
             caplog.text]  # fmt: skip
    for secret in (API_SECRET, "wrong-secret"):
        assert all(secret not in text for text in shown)


async def test_foreign_values_at_a_name_are_kept_when_ours_change(fake, spaceship):
    fake.add_record(
        ZONE, {"type": "TXT", "name": "@", "ttl": 300, "value": "google-site-verification=x"}
    )
    fake.add_record(ZONE, {"type": "TXT", "name": "@", "ttl": 300, "value": "v=spf1 -all"})
    zone = await spaceship.find_zone(APEX)
    (listed,) = await spaceship.list_rrsets(zone)
    new = make_rrset(APEX, "TXT", 300, '"google-site-verification=x"', '"v=spf1 mx -all"')
    await spaceship.apply(zone, [Update(listed, new)])
    assert ours(fake) == [("@", "google-site-verification=x"), ("@", "v=spf1 mx -all")]
