"""Cloud DNS under faults and at its edges: throttling, server errors, refused keys, conflicts,
pending changes, impersonation, private zones, paging and the 1,000-RRset change limit."""

from __future__ import annotations

import logging

import dns.name
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from dnsauto_googleclouddns.provider import PER_CHANGE
from dnsauto_googleclouddns.testing import service_account_json
from googleclouddns_helpers import ZONE, ZONE_ID, make_provider

from dnsauto.plugin import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    Create,
    Delete,
    TransientError,
    Update,
    ZoneNotFoundError,
)
from dnsauto.plugin.batches import chunks
from dnsauto.plugin.http import RetryPolicy
from dnsauto.testing import make_rrset
from dnsauto.testing.fake_http import Fault

APEX = dns.name.from_text(ZONE + ".")
CHANGES = "POST /dns/v1/projects/proj-1/managedZones/example-com/changes$"


def txt(label: str, *values: str):
    return make_rrset(dns.name.from_text(label, APEX), "TXT", 300, *values)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_throttling_and_server_errors_on_a_change_are_retried(fake, gcloud, status):
    zone = await gcloud.find_zone(APEX)
    fake.fail_next(Fault(match=CHANGES, status=status, headers={"Retry-After": "2"}))
    await gcloud.apply(zone, [Create(txt("a", '"one"'))])
    assert ("a.example.com.", "TXT") in fake.zones[ZONE_ID].rrsets
    assert gcloud.http.clock.sleeps == [2.0]
    assert fake.count("POST", "/changes$") == 2


async def test_server_errors_that_last_end_in_a_transient_error(fake):
    provider = make_provider(fake, http={"retry": RetryPolicy(attempts=3)})
    zone = await provider.find_zone(APEX)
    fake.fail_next(Fault(match="rrsets", status=503, times=10))
    with pytest.raises(TransientError):
        await provider.list_rrsets(zone)
    await provider.aclose()
    assert fake.count("GET", "rrsets") == 3


async def test_a_token_endpoint_error_is_retried(fake, gcloud):
    fake.fail_next(Fault(match="POST /token", status=503))
    assert (await gcloud.find_zone(APEX)).id == ZONE_ID
    assert fake.count("POST", "^/token$") == 2


async def test_a_key_the_service_account_does_not_have_is_refused_permanently(fake, caplog):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa = service_account_json(fake.token_uri, other)
    provider = make_provider(fake, serviceAccountJson={"@type": "Value", "secret": sa})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as caught:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not caught.value.transient
    assert "'serviceAccountJson'" in caught.value.message
    assert "'gcloud'" in caught.value.message
    assert "Invalid JWT Signature" in caught.value.message
    assert fake.count("GET") == 0
    secret_line = sa.split("\\n")[1]
    assert secret_line not in caught.value.message + caplog.text + repr(provider)
    assert secret_line not in repr(provider.settings) + repr(provider._key)


@pytest.mark.parametrize("status", [401, 403])
async def test_an_api_refusal_is_permanent_and_not_retried(fake, gcloud, status):
    fake.fail_next(Fault(match="managedZones", status=status, body={"error": {"code": status,
                         "message": "Forbidden", "errors": []}}))  # fmt: skip
    with pytest.raises(AuthenticationError, match="'serviceAccountJson'") as caught:
        await gcloud.find_zone(APEX)
    assert not caught.value.transient
    assert fake.count("GET") == 1


async def test_a_service_account_json_that_is_not_one_is_a_config_error_naming_the_field(fake):
    provider = make_provider(fake, serviceAccountJson={"@type": "Value", "secret": '{"x": 1}'})
    with pytest.raises(ConfigError, match="serviceAccountJson"):
        await provider.find_zone(APEX)
    await provider.aclose()


async def test_the_token_is_asked_for_once_and_again_near_its_expiry(fake, gcloud):
    await gcloud.find_zone(APEX)
    zone = await gcloud.find_zone(APEX)
    await gcloud.list_rrsets(zone)
    assert fake.count("POST", "^/token$") == 1
    gcloud.http.clock.now += 3400  # five minutes before the hour runs out
    await gcloud.list_rrsets(zone)
    assert fake.count("POST", "^/token$") == 2
    assert len({r.headers["Authorization"] for r in fake.requests if "/dns/" in r.path}) == 2


async def test_impersonation_exchanges_the_token_for_the_target_accounts(fake):
    target = "dns-writer@proj-1.iam.gserviceaccount.com"
    provider = make_provider(fake, impersonateServiceAccount=target)
    await provider.find_zone(APEX)
    await provider.aclose()
    assert fake.impersonated == [target]
    (listing,) = [r for r in fake.requests if r.path.endswith("/managedZones")]
    assert listing.headers["Authorization"] == "Bearer ya29.fake-2"  # the impersonated token


async def test_a_deletion_that_no_longer_matches_is_a_conflict_and_changes_nothing(fake, gcloud):
    zone = await gcloud.find_zone(APEX)
    await gcloud.apply(zone, [Create(txt("a", '"one"'))])
    (read,) = [r for r in await gcloud.list_rrsets(zone) if r.rdtype == txt("a").rdtype]
    fake.add_rrset(ZONE_ID, "a.example.com.", "TXT", ['"someone else"'])
    with pytest.raises(ConflictError, match="HTTP 412: Precondition not met"):
        await gcloud.apply(zone, [Update(read, txt("a", '"two"')), Create(txt("b", '"b"'))])
    assert ("b.example.com.", "TXT") not in fake.zones[ZONE_ID].rrsets  # atomic
    with pytest.raises(ConflictError, match="already exists"):
        await gcloud.apply(zone, [Create(txt("a", '"again"'))])


async def test_an_update_is_one_change_deleting_the_rrset_as_read_and_adding_the_new(fake, gcloud):
    zone = await gcloud.find_zone(APEX)
    await gcloud.apply(zone, [Create(txt("a", '"one"')), Create(txt("b", '"b"'))])
    (read,) = [r for r in await gcloud.list_rrsets(zone) if r.name == txt("a").name]
    await gcloud.apply(zone, [Update(read, txt("a", '"two"')), Delete(txt("b", '"b"'))])
    body = fake.requests[-1].body
    assert body["deletions"] == [
        {"name": "a.example.com.", "type": "TXT", "ttl": 300, "rrdatas": ['"one"']},
        {"name": "b.example.com.", "type": "TXT", "ttl": 300, "rrdatas": ['"b"']},
    ]
    assert body["additions"] == [
        {"name": "a.example.com.", "type": "TXT", "ttl": 300, "rrdatas": ['"two"']}
    ]
    assert fake.count("POST", "/changes$") == 2


async def test_wait_live_polls_a_pending_change_until_it_is_done(fake, gcloud):
    zone = await gcloud.find_zone(APEX)
    fake.pending_polls = 2
    await gcloud.apply(zone, [Create(txt("a", '"one"'))])
    (change_id,) = fake.zones[ZONE_ID].changes
    assert fake.zones[ZONE_ID].changes[change_id]["status"] == "pending"
    await gcloud.wait_live(zone)
    assert fake.zones[ZONE_ID].changes[change_id]["status"] == "done"
    assert fake.count("GET", f"/changes/{change_id}$") == 3
    assert gcloud.http.clock.sleeps == [0.5, 1.0]
    await gcloud.wait_live(zone)  # nothing pending any more: no call
    assert fake.count("GET", "/changes/") == 3


async def test_a_change_pending_past_the_propagation_timeout_is_transient(fake, gcloud):
    zone = await gcloud.find_zone(APEX)
    fake.pending_polls = 1000
    await gcloud.apply(zone, [Create(txt("a", '"one"'))])
    with pytest.raises(TransientError, match="still pending"):
        await gcloud.wait_live(zone)
    assert sum(gcloud.http.clock.sleeps) <= 60


async def test_3000_rrsets_go_in_three_valid_changes_of_1000(fake, gcloud):
    zone = await gcloud.find_zone(APEX)
    creates = [Create(txt(f"r{i}", f'"v{i}"')) for i in range(3000)]
    assert gcloud.capabilities.max_changes_per_batch == PER_CHANGE == 1000
    for batch in chunks(creates, PER_CHANGE):  # as the engine splits them
        await gcloud.apply(zone, batch)
    assert fake.count("POST", "/changes$") == 3
    listed = await gcloud.list_rrsets(zone)
    assert len(listed) == 3002  # with the apex SOA and NS
    assert fake.count("GET", "rrsets") == 31  # 100 a page
    with pytest.raises(AuthenticationError, match="Quota exceeded"):
        await gcloud.apply(zone, [Create(txt(f"x{i}", '"x"')) for i in range(1001)])


async def test_the_longest_public_zone_is_found_over_every_page(fake, gcloud):
    for i in range(150):
        fake.add_zone(f"z{i}.example.org")
    fake.add_zone("sub.example.com")
    fake.add_zone("inner.sub.example.com", visibility="private")
    zone = await gcloud.find_zone(dns.name.from_text("_dmarc.inner.sub.example.com."))
    assert zone.id == "sub-example-com"
    assert fake.count("GET", "managedZones$") == 2
    other = await gcloud.find_zone(dns.name.from_text("notsub.example.com."))
    assert other.id == ZONE_ID
    with pytest.raises(ZoneNotFoundError):
        await gcloud.find_zone(dns.name.from_text("example.net."))


async def test_private_zone_picks_only_private_zones_and_managed_zone_is_used_as_given(fake):
    fake.add_zone("example.com", name="example-com-private", visibility="private")
    private = make_provider(fake, privateZone=True)
    assert (await private.find_zone(APEX)).id == "example-com-private"
    await private.aclose()
    named = make_provider(fake, managedZone="example-com-private")
    assert (await named.find_zone(dns.name.from_text("mx.example.com."))).id == (
        "example-com-private"
    )
    with pytest.raises(ZoneNotFoundError):
        await named.find_zone(dns.name.from_text("example.org."))
    await named.aclose()


async def test_a_server_of_one_managed_zone_knows_no_zone_below_it_without_asking(fake):
    fake.add_zone("sub.example.com", name="sub-example-com")
    named = make_provider(fake, managedZone="example-com")
    zone = await named.find_zone(APEX)
    asked = len(fake.requests)
    names = [dns.name.from_text(n) for n in ("mail.sub.example.com.", "_dmarc.example.com.")]
    assert await named.subzones(zone, names) == set()
    assert len(fake.requests) == asked
    await named.aclose()
