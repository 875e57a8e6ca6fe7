"""OVH under faults: the server's clock, refused signatures and keys, throttling, server errors,
a refusal mid-batch, a failed refresh; and what each request carries."""

from __future__ import annotations

import logging
import time

import dns.name
import pytest
from dnsauto_ovh.provider import OvhProvider
from dnsauto_ovh.testing import APPLICATION_SECRET, CONSUMER_KEY
from ovh_helpers import ZONE, make_provider, settings

from dnsauto.plugin import (
    AuthenticationError,
    Create,
    PartialApplyError,
    ProviderContext,
    TransientError,
    Update,
)
from dnsauto.plugin.http import RetryPolicy, redact_headers
from dnsauto.testing import make_rrset
from dnsauto.testing.fake_http import FakeClock, Fault

APEX = dns.name.from_text(ZONE + ".")
CREATE = r"POST /1.0/domain/zone/[^/]+/record$"


def txt(label: str, *values: str):
    return make_rrset(dns.name.from_text(label, APEX), "TXT", 300, *values)


async def test_requests_are_signed_with_the_servers_clock_not_the_local_one(fake, ovh):
    fake.now = lambda: time.time() + 3600  # and the FakeClock is months away from both
    zone = await ovh.find_zone(APEX)
    await ovh.apply(zone, [Create(txt("a", '"one"'))])
    stamps = [int(r.headers["X-Ovh-Timestamp"]) for r in fake.requests[1:]]
    assert all(abs(s - fake.now()) <= 5 for s in stamps)
    assert fake.count("GET", "/auth/time") == 1  # read once, not before every request


async def test_a_query_out_of_time_rereads_the_servers_clock_and_goes_again(fake, ovh):
    zone = await ovh.find_zone(APEX)
    fake.now = lambda: time.time() + 900  # the server's clock jumps (or ours drifted)
    await ovh.apply(zone, [Create(txt("a", '"one"'))])
    assert len(fake.records(ZONE)) == 1
    assert fake.count("GET", "/auth/time") == 2
    posts = [r for r in fake.requests if r.method == "POST"]
    assert len(posts) == 3  # the create refused as out of time, sent again; the refresh


async def test_a_client_signing_with_its_own_clock_is_refused_by_the_fake(fake, ovh):
    ovh.offset = 0.0  # what a naive client does: no /auth/time
    fake.now = lambda: time.time() + 900
    zone = await ovh.find_zone(APEX)  # refused once, then the offset is read and it succeeds
    assert zone.name == APEX
    (first, *_) = [r for r in fake.requests if r.path == "/1.0/domain/zone"]
    assert abs(int(first.headers["X-Ovh-Timestamp"]) - fake.now()) > fake.max_skew


async def test_a_wrong_application_secret_is_permanent_and_names_the_fields(fake, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "wrong-secret-value"
    provider = make_provider(fake, applicationSecret={"@type": "Value", "secret": secret})
    with pytest.raises(AuthenticationError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not caught.value.transient
    assert "Invalid signature" in caught.value.message
    assert "'applicationSecret'" in caught.value.message
    assert "'ovh'" in caught.value.message
    assert fake.count("GET", "/domain/zone") == 1  # not retried
    seen = [str(caught.value), repr(provider.http), repr(provider.settings), caplog.text]
    assert all(secret not in t and CONSUMER_KEY not in t for t in seen)


async def test_an_unknown_or_expired_consumer_key_is_permanent_and_names_the_fields(fake):
    provider = make_provider(fake, consumerKey={"@type": "Value", "secret": "revoked-ck"})
    with pytest.raises(AuthenticationError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not caught.value.transient
    assert "This credential does not exist" in caught.value.message
    assert "'consumerKey'" in caught.value.message
    assert "revoked-ck" not in caught.value.message
    assert fake.count("GET", "/domain/zone") == 1


async def test_signatures_and_keys_are_redacted_wherever_headers_are_shown(fake, ovh, caplog):
    caplog.set_level(logging.DEBUG)
    fake.fail_next(Fault(match="GET /1.0/domain/zone$", status=500, times=2))
    await ovh.find_zone(APEX)
    shown = redact_headers(fake.requests[-1].headers)
    assert shown["X-Ovh-Consumer"] == shown["X-Ovh-Signature"] == "********"
    assert CONSUMER_KEY not in caplog.text
    assert APPLICATION_SECRET not in caplog.text


@pytest.mark.parametrize("headers", [{"Retry-After": "3"}, {}], ids=["retry-after", "none"])
async def test_a_throttled_create_is_signed_again_and_applied_once(fake, ovh, headers):
    zone = await ovh.find_zone(APEX)
    fake.fail_next(Fault(match=CREATE, status=429, headers=headers))
    await ovh.apply(zone, [Create(txt("a", '"one"'))])
    assert len(fake.records(ZONE)) == 1
    assert ovh.http.counters.throttled == 1
    if headers:
        assert 3.0 in ovh.http.clock.sleeps


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_on_a_create_is_retried_without_duplicates(fake, ovh, status):
    zone = await ovh.find_zone(APEX)
    fake.fail_next(Fault(match=CREATE, status=status))
    await ovh.apply(zone, [Create(txt("a", '"one"', '"two"'))])
    assert sorted(r["target"] for r in fake.records(ZONE)) == ['"one"', '"two"']


async def test_server_errors_that_last_end_in_a_transient_error(fake):
    provider = make_provider(fake, http={"retry": RetryPolicy(attempts=3)})
    fake.fail_next(Fault(match="GET /1.0/domain/zone$", status=503, times=10))
    with pytest.raises(TransientError):
        await provider.find_zone(APEX)
    await provider.aclose()
    assert fake.count("GET", "/domain/zone$") == 3


async def test_a_batch_is_refreshed_once_and_published_only_then(fake, ovh):
    zone = await ovh.find_zone(APEX)
    mx = make_rrset(APEX, "MX", 300, "10 mx1.example.com.", "20 mx2.example.com.")
    await ovh.apply(zone, [Create(txt("a", '"one"')), Create(txt("b", '"two"')), Create(mx)])
    assert fake.count("POST", "/refresh$") == 1
    assert len(fake.published(ZONE)) == 4
    before = len(fake.requests)
    fake.fail_next(Fault(match="/refresh$", status=400, body={"message": "x"}))
    with pytest.raises(TransientError, match="not refreshed"):
        await ovh.apply(zone, [Create(txt("c", '"three"'))])
    assert len(fake.records(ZONE)) == 5
    assert len(fake.published(ZONE)) == 4
    await ovh.list_rrsets(zone)  # the refresh still owed is made first
    assert len(fake.published(ZONE)) == 5
    assert fake.count("POST", "/refresh$") == 3
    assert len(fake.requests) > before


async def test_mx_priority_goes_inside_target_and_txt_is_quoted(fake, ovh):
    zone = await ovh.find_zone(APEX)
    mx = make_rrset(APEX, "MX", 300, "10 mx1.example.com.")
    await ovh.apply(zone, [Create(mx), Create(txt("_dmarc", '"v=DMARC1; p=none"'))])
    bodies = [r.body for r in fake.requests if r.method == "POST" and r.path.endswith("/record")]
    assert bodies == [
        {"fieldType": "MX", "subDomain": "", "target": "10 mx1.example.com.", "ttl": 300},
        {"fieldType": "TXT", "subDomain": "_dmarc", "target": '"v=DMARC1; p=none"', "ttl": 300},
    ]


async def test_an_update_rewrites_only_the_values_that_differ(fake, ovh):
    zone = await ovh.find_zone(APEX)
    old = make_rrset(APEX, "MX", 300, "10 mx1.example.com.", "20 mx2.example.com.")
    await ovh.apply(zone, [Create(old)])
    (listed,) = await ovh.list_rrsets(zone)
    before = len(fake.requests)
    new = make_rrset(APEX, "MX", 300, "10 mx1.example.com.", "30 mx3.example.com.")
    await ovh.apply(zone, [Update(listed, new)])
    put, refresh = fake.requests[before:]
    assert (put.method, put.body) == ("PUT", {"target": "30 mx3.example.com.", "ttl": 300})
    assert refresh.path.endswith("/refresh")


async def test_a_refusal_mid_batch_names_what_went_through_and_publishes_it(fake, ovh):
    zone = await ovh.find_zone(APEX)
    refused = {"errorCode": "INVALID_ARGUMENT", "httpCode": "400 Bad Request",
               "message": "Invalid target"}  # fmt: skip
    fake.fail_next(Fault(match=CREATE, status=400, body=refused, after=1))
    with pytest.raises(PartialApplyError) as caught:
        await ovh.apply(zone, [Create(txt("a", '"one"')), Create(txt("b", '"two"'))])
    assert "Invalid target" in caught.value.message
    assert len(fake.published(ZONE)) == 1  # the create that went through is published


async def test_a_zone_of_300_records_is_read_within_the_fair_use_rate(fake):
    for i in range(300):
        fake.add_record(ZONE, {"fieldType": "TXT", "subDomain": f"r{i}", "target": f"v{i}"})
    clock = FakeClock()
    fake.now = lambda: clock.time() + 12_345  # both clocks move as the rate limit waits
    provider = make_provider(fake, clock=clock)
    zone = await provider.find_zone(APEX)
    listed = await provider.list_rrsets(zone)
    await provider.aclose()
    assert len(listed) == 300
    assert fake.count("GET", r"/record/\d+$") == 300
    assert clock.now - 1_000.0 >= (303 - 60) - 1  # 60 a minute past the first 60


async def test_a_record_deleted_between_listing_and_fetching_is_skipped(fake, ovh):
    zone = await ovh.find_zone(APEX)
    fake.add_record(ZONE, {"fieldType": "TXT", "subDomain": "gone", "target": "x"})
    fake.add_record(ZONE, {"fieldType": "TXT", "subDomain": "kept", "target": "y"})
    gone = {"errorCode": "RESOURCE_NOT_FOUND", "httpCode": "404 Not Found", "message": "gone"}
    fake.fail_next(Fault(match=r"GET .*/record/\d+$", status=404, body=gone))
    (kept,) = await ovh.list_rrsets(zone)
    assert kept.name == dns.name.from_text("kept", APEX)  # the first fetched was gone


async def test_ovhs_own_txt_field_types_and_zone_default_ttl_are_read_as_txt(fake, ovh):
    zone = await ovh.find_zone(APEX)
    fake.add_record(ZONE, {"fieldType": "DMARC", "subDomain": "_dmarc", "target": "v=DMARC1;p=none",
                           "ttl": 0})  # fmt: skip
    (dmarc,) = await ovh.list_rrsets(zone)
    assert (dmarc.rdtype, dmarc.ttl) == (dns.rdatatype.TXT, 3600)
    assert [r.to_text() for r in dmarc] == ['"v=DMARC1;p=none"']


async def test_a_delegated_subzone_is_found_as_its_own_zone(fake, ovh):
    fake.add_zone("sub.example.com")
    zone = await ovh.find_zone(dns.name.from_text("_dmarc.sub.example.com."))
    assert zone.name == dns.name.from_text("sub.example.com.")
    assert zone.id == "sub.example.com"


async def test_the_endpoint_is_chosen_by_ovh_endpoint():
    provider = OvhProvider(settings(ovhEndpoint="kimsufi-ca"), ProviderContext(server_id="x"))
    assert provider.http.base_url == "https://ca.api.kimsufi.com/1.0"
    with pytest.raises(ValueError, match="ovhEndpoint"):
        settings(ovhEndpoint="ovh-mars")


async def test_an_auth_time_that_is_not_a_time_is_a_clear_transient_error(fake, ovh):
    fake.fail_next(Fault(match="/auth/time", status=200, body={"oops": 1}))
    with pytest.raises(TransientError, match="not a time"):
        await ovh.find_zone(APEX)
