"""Porkbun's traps and faults: the editByNameType no-op, HTML 503 throttling, errors in 200/400
bodies, relative names, the 600 s TTL floor, refused keys and secrets kept out of every text."""

from __future__ import annotations

import logging

import aiohttp
import dns.name
import dns.rdatatype
import pytest
from dnsauto_porkbun.testing import API_KEY, SECRET_API_KEY, THROTTLED_HTML, FakePorkbun
from porkbun_helpers import ZONE, make_provider

from dnsauto.plugin import (
    AuthenticationError,
    Create,
    ProviderError,
    TransientError,
    Update,
    ZoneNotFoundError,
)
from dnsauto.plugin.http import RetryPolicy
from dnsauto.testing import make_rrset
from dnsauto.testing.fake_http import Fault

APEX = dns.name.from_text(ZONE + ".")


def txt(label: str, *values: str, ttl: int = 600):
    return make_rrset(dns.name.from_text(label, APEX), "TXT", ttl, *values)


def ours(fake: FakePorkbun) -> list[tuple[str, str]]:
    return sorted((r["name"], r["content"]) for r in fake.records(ZONE) if r["type"] == "TXT")


async def test_a_new_rrset_is_created_not_edited_into_nothing(fake, porkbun):
    # editByNameType on a name and type with no record answers SUCCESS and writes nothing:
    body = {"content": "v=DMARC1; p=none", "ttl": "600"}
    response = await porkbun.http.request(
        "POST", f"/dns/editByNameType/{ZONE}/TXT/_dmarc", json=body
    )
    assert response.body == {"status": "SUCCESS"}
    assert ours(fake) == []
    zone = await porkbun.find_zone(APEX)
    await porkbun.apply(zone, [Create(txt("_dmarc", '"v=DMARC1; p=none"'))])
    assert ours(fake) == [("_dmarc.example.com", "v=DMARC1; p=none")]
    assert fake.count("POST", "ByNameType") == 1  # only the probe above


async def test_names_are_sent_relative_and_read_back_absolute(fake, porkbun):
    zone = await porkbun.find_zone(APEX)
    await porkbun.apply(zone, [Create(txt("_mta-sts", '"v=STSv1; id=1"'))])
    await porkbun.apply(zone, [Create(make_rrset(APEX, "MX", 600, "10 mail.example.com."))])
    sent = [r.body["name"] for r in fake.requests if "/dns/create/" in r.path]
    assert sent == ["_mta-sts", ""]
    listed = {(r.name.to_text(), r.rdtype) for r in await porkbun.list_rrsets(zone)}
    assert ("_mta-sts.example.com.", dns.rdatatype.TXT) in listed
    assert ("example.com.", dns.rdatatype.MX) in listed
    (mx,) = [r for r in fake.records(ZONE) if r["type"] == "MX"]
    assert (mx["content"], mx["prio"]) == ("mail.example.com", "10")


async def test_ids_ttls_and_priorities_listed_as_strings_are_read(fake, porkbun):
    srv_record = {"name": "_imaps._tcp." + ZONE, "type": "SRV",
                  "content": "1 993 mail.example.com", "ttl": "3600", "prio": "0"}  # fmt: skip
    fake.add_record(ZONE, srv_record)
    zone = await porkbun.find_zone(APEX)
    (srv,) = [r for r in await porkbun.list_rrsets(zone) if r.rdtype == dns.rdatatype.SRV]
    assert (srv.ttl, [r.to_text() for r in srv]) == (3600, ["0 1 993 mail.example.com."])


async def test_a_ttl_below_600_is_raised_by_the_zone_minimum(fake, porkbun):
    zone = await porkbun.find_zone(APEX)
    assert zone.min_ttl == 600
    # what happens without it: the fake, like Porkbun, stores 600 whatever is asked
    await porkbun.apply(zone, [Create(txt("low", '"x"', ttl=300))])
    assert [r["ttl"] for r in fake.records(ZONE) if r["type"] == "TXT"] == ["600"]


@pytest.mark.parametrize("times", [1, 3])
async def test_an_html_503_is_throttling_retried_even_for_a_create(fake, porkbun, times):
    zone = await porkbun.find_zone(APEX)
    fake.throttled = times
    await porkbun.apply(zone, [Create(txt("a", '"one"'))])
    assert ours(fake) == [("a.example.com", "one")]
    assert porkbun.http.counters.throttled == times
    assert fake.count("POST", "/dns/create/") == times + 1


async def test_throttling_that_lasts_ends_in_a_transient_error_after_bounded_retries(fake):
    provider = make_provider(fake, http={"retry": RetryPolicy(attempts=3)})
    fake.throttled = 10
    with pytest.raises(TransientError, match="HTTP 503"):
        await provider.find_zone(APEX)
    await provider.aclose()
    assert fake.count("POST") == 3


async def test_requests_are_held_to_about_one_a_second_past_a_burst(fake, porkbun):
    zone = await porkbun.find_zone(APEX)
    for _ in range(66):
        await porkbun.list_rrsets(zone)
    assert porkbun.http.counters.rate_limited == 7  # 67 requests: 60 at once, then 1 a second
    assert all(s == pytest.approx(1.0) for s in porkbun.http.clock.sleeps)


@pytest.mark.parametrize("status", [500, 502])
async def test_a_server_error_on_a_create_is_not_resent_so_nothing_is_duplicated(
    fake, porkbun, status
):
    zone = await porkbun.find_zone(APEX)
    fake.fail_next(Fault(match="/dns/create/", status=status))
    with pytest.raises(TransientError):
        await porkbun.apply(zone, [Create(txt("a", '"one"'))])
    assert fake.count("POST", "/dns/create/") == 1


async def test_a_server_error_on_an_edit_is_retried(fake, porkbun):
    zone = await porkbun.find_zone(APEX)
    await porkbun.apply(zone, [Create(txt("a", '"one"'))])
    fake.fail_next(Fault(match="/dns/edit/", status=502))
    await porkbun.apply(zone, [Update(txt("a", '"one"'), txt("a", '"two"'))])
    assert ours(fake) == [("a.example.com", "two")]


async def test_a_connection_reset_on_a_listing_is_retried(fake, porkbun):
    zone = await porkbun.find_zone(APEX)
    fake.fail_next(Fault(match="/dns/retrieve/", reset=True))
    assert [r.rdtype for r in await porkbun.list_rrsets(zone)] == [dns.rdatatype.NS]


async def test_an_error_in_a_200_body_is_a_permanent_error_with_porkbun_message(fake, porkbun):
    zone = await porkbun.find_zone(APEX)
    error = {"status": "ERROR", "message": "Invalid record content."}
    fake.fail_next(Fault(match="/dns/create/", status=200, body=error))
    with pytest.raises(ProviderError, match="HTTP 200: Invalid record content") as caught:
        await porkbun.apply(zone, [Create(txt("a", '"one"'))])
    assert not caught.value.transient


async def test_a_domain_not_in_the_account_is_zone_not_found(fake, porkbun):
    zone = await porkbun.find_zone(APEX)
    del fake.domains[ZONE]
    with pytest.raises(ZoneNotFoundError, match="Invalid domain"):
        await porkbun.list_rrsets(zone)


@pytest.mark.parametrize("field", ["apiKey", "secretApiKey"])
async def test_refused_keys_are_permanent_and_no_secret_is_shown(fake, field, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = {"apiKey": "pk1_wrong-key"} if field == "apiKey" else {
        "secretApiKey": {"@type": "Value", "secret": "sk1_wrong-secret"}}  # fmt: skip
    provider = make_provider(fake, **wrong)
    fake.fail_next(Fault(match="listAll", status=500))  # a retry logged first
    with pytest.raises(AuthenticationError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not caught.value.transient
    assert "'apiKey' and 'secretApiKey'" in caught.value.message
    assert "'pb1'" in caught.value.message
    shown = [str(caught.value), repr(caught.value), repr(provider.http), repr(provider.settings),
             caplog.text]  # fmt: skip
    for secret in (SECRET_API_KEY, "sk1_wrong-secret"):
        assert all(secret not in text for text in shown)
    assert fake.count("POST") == 2


async def test_a_body_that_echoes_the_secret_key_is_scrubbed_from_the_error(fake, porkbun):
    fake.fail_next(Fault(match="listAll", status=400,
                         body={"status": "ERROR", "message": f"bad {SECRET_API_KEY}"}))  # fmt: skip
    with pytest.raises(ProviderError) as caught:
        await porkbun.find_zone(APEX)
    assert SECRET_API_KEY not in str(caught.value)
    assert "bad ********" in str(caught.value)


async def test_the_keys_go_in_the_body_not_in_headers(fake, porkbun):
    await porkbun.find_zone(APEX)
    (request,) = fake.requests
    assert (request.body["apikey"], request.body["secretapikey"]) == (API_KEY, SECRET_API_KEY)
    assert not {"x-api-key", "x-secret-api-key"} & {h.lower() for h in request.headers}


async def test_the_seed_extra_secret_is_accepted_and_unused(fake):
    provider = make_provider(fake, secret={"@type": "Value", "secret": "unused-secret"})
    zone = await provider.find_zone(APEX)
    await provider.aclose()
    assert zone.id == ZONE
    assert all("unused-secret" not in str(r.body) for r in fake.requests)


async def test_foreign_values_at_a_name_are_kept_when_ours_change(fake, porkbun):
    fake.add_record(ZONE, {"type": "TXT", "content": "google-site-verification=x", "ttl": "600"})
    fake.add_record(ZONE, {"type": "TXT", "content": "v=spf1 -all", "ttl": "600"})
    zone = await porkbun.find_zone(APEX)
    (listed,) = [r for r in await porkbun.list_rrsets(zone) if r.rdtype == dns.rdatatype.TXT]
    new = make_rrset(APEX, "TXT", 600, '"google-site-verification=x"', '"v=spf1 mx -all"')
    await porkbun.apply(zone, [Update(listed, new)])
    assert ours(fake) == [(ZONE, "google-site-verification=x"), (ZONE, "v=spf1 mx -all")]
    assert fake.count("POST", "/dns/edit/") == 1


async def test_a_delegated_subdomain_held_by_the_account_is_its_own_zone(fake, porkbun):
    fake.add_domain("sub." + ZONE)
    fake.add_domain("notexample.com")
    zone = await porkbun.find_zone(dns.name.from_text("a.sub." + ZONE + "."))
    assert zone.id == "sub." + ZONE


async def test_the_throttle_page_is_html_as_porkbun_sends_it(fake):
    fake.throttled = 1
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.base_url + "/ping", json={}) as response,
    ):
        assert (response.status, response.content_type) == (503, "text/html")
        assert await response.text() == THROTTLED_HTML
