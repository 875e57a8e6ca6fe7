"""Route 53 faults and limits: throttling, refused credentials, stale deletes, PENDING changes,
batch limits, truncated zone listings; moto behind the proxy, time on a FakeClock."""

from __future__ import annotations

import logging
import re
from typing import Any

import dns.name
import pytest
from route53_helpers import (
    SECRET,
    TOKEN,
    ZONE,
    Route53Proxy,
    add_zone,
    make_provider,
    records,
    xml_fault,
)

from dnsauto.plugin import (
    AuthenticationError,
    ConflictError,
    Create,
    Delete,
    PartialApplyError,
    ProviderError,
    TransientError,
    UnsupportedError,
    Update,
    ZoneNotFoundError,
)
from dnsauto.testing import make_rrset
from dnsauto.testing.fake_http import FakeClock, Fault

POST = "POST .*/rrset/$"


def name(label: str) -> dns.name.Name:
    return dns.name.from_text(label, origin=dns.name.from_text(ZONE))


def posted(proxy: Route53Proxy) -> list[str]:
    return [r.body for r in proxy.requests if r.method == "POST"]


@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
async def test_throttling_is_retried_with_backoff_and_the_write_then_lands(proxy, moto, code):
    clock = FakeClock()
    provider = make_provider(proxy.base_url, clock)
    zone = await provider.find_zone(name("a"))
    proxy.fail_next(xml_fault(POST, code, "Rate exceeded", times=2))
    await provider.apply(zone, [Create(make_rrset(name("a"), "TXT", 300, '"x"'))])
    assert records(moto, moto.zone_id)[("a.example.com.", "TXT")] == ['"x"']
    assert len(posted(proxy)) == 3  # botocore's own retries are off: each retry is ours
    assert (provider.counters.retries, provider.counters.throttled) == (2, 2)
    assert len(clock.sleeps) == 2
    assert clock.sleeps[1] > clock.sleeps[0] * 0.5
    await provider.aclose()


async def test_throttling_that_does_not_end_is_a_transient_error_after_bounded_tries(proxy):
    provider = make_provider(proxy.base_url)
    zone = await provider.find_zone(name("a"))
    proxy.fail_next(xml_fault(POST, "Throttling", "Rate exceeded", times=99))
    with pytest.raises(TransientError, match="Throttling: Rate exceeded"):
        await provider.apply(zone, [Create(make_rrset(name("a"), "TXT", 300, '"x"'))])
    assert len(posted(proxy)) == provider.retry.attempts
    await provider.aclose()


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("AccessDenied", "User: arn:aws:iam::1:user/x is not authorized to perform: route53:List"),
        ("InvalidClientTokenId", "The security token included in the request is invalid."),
        ("SignatureDoesNotMatch", "The request signature we calculated does not match"),
    ],
)
async def test_refused_credentials_are_permanent_name_the_fields_and_hold_no_secret(
    proxy, code, message, caplog
):
    caplog.set_level(logging.DEBUG)
    provider = make_provider(proxy.base_url)
    proxy.fail_next(xml_fault("hostedzonesbyname", code, message, status=403))
    with pytest.raises(AuthenticationError) as refused:
        await provider.find_zone(name("a"))
    assert not refused.value.transient
    assert code in str(refused.value)
    assert "'secretAccessKey'" in str(refused.value)
    assert "'r53'" in str(refused.value)
    assert len(proxy.requests) == 1
    for text in (str(refused.value), repr(refused.value), repr(provider.settings), caplog.text):
        assert SECRET not in text
        assert TOKEN not in text
    await provider.aclose()


async def test_secrets_are_in_no_log_line_even_at_debug_level(proxy, caplog):
    caplog.set_level(logging.DEBUG)
    provider = make_provider(proxy.base_url)
    proxy.fail_next(xml_fault(POST, "Throttling", "Rate exceeded"))
    zone = await provider.find_zone(name("a"))
    await provider.apply(zone, [Create(make_rrset(name("a"), "TXT", 300, '"x"'))])
    await provider.list_rrsets(zone)
    assert proxy.requests[0].headers["X-Amz-Security-Token"] == TOKEN  # it was sent
    assert "Throttling" in caplog.text
    assert SECRET not in caplog.text
    assert TOKEN not in caplog.text
    await provider.aclose()


async def test_5xx_and_connection_resets_are_retried(proxy):
    provider = make_provider(proxy.base_url)
    proxy.fail_next(Fault(match="hostedzonesbyname", status=503))
    proxy.fail_next(Fault(match="hostedzonesbyname", reset=True))
    zone = await provider.find_zone(name("a"))
    assert zone.name == dns.name.from_text(ZONE)
    assert provider.counters.retries == 2
    await provider.aclose()


async def test_a_timeout_is_a_transient_error(proxy):
    provider = make_provider(proxy.base_url, timeout="1s")
    provider.retry = type(provider.retry)(attempts=1)
    proxy.fail_next(Fault(match="hostedzonesbyname", stall=True))
    with pytest.raises(TransientError, match=r"ReadTimeoutError talking to http://127\.0\.0\.1"):
        await provider.find_zone(name("a"))
    await provider.aclose()


async def test_an_invalid_change_batch_is_permanent_with_its_message(proxy, route53):
    zone = await route53.find_zone(name("a"))
    message = "[Duplicate Resource Record: '&quot;challengetoken&quot;']"
    proxy.fail_next(xml_fault(POST, "InvalidChangeBatch", message))
    with pytest.raises(ProviderError) as refused:
        await route53.apply(zone, [Create(make_rrset(name("a"), "TXT", 300, '"x"'))])
    assert not refused.value.transient
    assert not isinstance(refused.value, ConflictError)
    assert "InvalidChangeBatch: [Duplicate Resource Record: '\"challengetoken\"']" in str(
        refused.value
    )


async def test_a_delete_or_update_of_an_rrset_gone_since_reading_is_a_conflict(moto, route53):
    # moto checks a DELETE against its change journal, not the zone: an RRset replaced by
    # someone else is still deleted there (real AWS refuses, see the next test), but one
    # that was never there is refused, as AWS does
    zone = await route53.find_zone(name("a"))
    gone = make_rrset(name("gone"), "TXT", 300, '"one"')
    for change in (Delete(gone), Update(gone, make_rrset(name("gone"), "TXT", 300, '"two"'))):
        with pytest.raises(ConflictError) as stale:
            await route53.apply(zone, [change])
        assert not stale.value.transient
    assert ("gone.example.com.", "TXT") not in records(moto, moto.zone_id)


@pytest.mark.parametrize(
    "message",
    [
        "Tried to delete resource record set [name='a.example.com.', type='TXT'] but it was "
        "not found",
        "Tried to delete resource record set [name='a.example.com.', type='TXT'] but the values "
        "provided do not match the current values",
        "Tried to create resource record set [name='a.example.com.', type='TXT'] but it already "
        "exists",
    ],
)
async def test_aws_texts_for_a_stale_rrset_are_conflicts(proxy, route53, message):
    zone = await route53.find_zone(name("a"))
    proxy.fail_next(xml_fault(POST, "InvalidChangeBatch", message))
    with pytest.raises(ConflictError, match="but"):
        await route53.apply(zone, [Delete(make_rrset(name("a"), "TXT", 300, '"x"'))])


async def test_wait_live_polls_get_change_until_insync(proxy):
    clock = FakeClock()
    provider = make_provider(proxy.base_url, clock, pollingInterval="10s")
    zone = await provider.find_zone(name("a"))
    proxy.pending_polls = 3
    await provider.apply(zone, [Create(make_rrset(name("a"), "TXT", 300, '"x"'))])
    (change_id,) = proxy.polls
    await provider.wait_live(zone)
    assert proxy.operations().count("GetChange") == 4
    assert proxy.polls[change_id] == 0
    assert clock.sleeps == [10.0, 10.0, 10.0]
    await provider.wait_live(zone)  # nothing pending any more
    assert proxy.operations().count("GetChange") == 4
    await provider.aclose()


async def test_a_change_still_pending_after_the_propagation_timeout_is_transient(proxy):
    provider = make_provider(proxy.base_url, pollingInterval="15s", propagationTimeout="1m")
    zone = await provider.find_zone(name("a"))
    proxy.pending_polls = 100
    await provider.apply(zone, [Create(make_rrset(name("a"), "TXT", 300, '"x"'))])
    with pytest.raises(TransientError, match="still PENDING after propagationTimeout"):
        await provider.wait_live(zone)
    assert proxy.operations().count("GetChange") == 5  # at 0, 15, 30, 45 and 60 s
    await provider.aclose()


async def test_a_change_get_change_no_longer_knows_counts_as_insync(proxy, route53):
    zone = await route53.find_zone(name("a"))
    route53._pending = ["CFORGOTTEN"]
    await route53.wait_live(zone)
    assert proxy.operations().count("GetChange") == 1


async def test_a_3000_record_change_goes_in_valid_batches_and_reads_back_over_pages(moto, proxy):
    provider = make_provider(proxy.base_url, timeout="120s")  # moto takes seconds per batch
    zone = await provider.find_zone(name("a"))
    long_value = '"' + "k" * 200 + '"'
    changes = [Create(make_rrset(name(f"r{i}"), "TXT", 300, '"v"')) for i in range(2800)]
    changes += [Create(make_rrset(name(f"big{i}"), "TXT", 300, long_value)) for i in range(200)]
    await provider.apply(zone, changes)
    batches = posted(proxy)
    assert len(batches) == 4  # 1,000 records, 1,000, then 946 and 54 by the 32,000 characters
    for body in batches:
        values = re.findall(r"<Value>(.*?)</Value>", body)
        assert len(values) <= 1_000
        assert sum(len(v.replace("&quot;", '"')) for v in values) <= 32_000
    assert sum(body.count("<Action>CREATE</Action>") for body in batches) == 3000
    listed = await provider.list_rrsets(zone)
    assert len([r for r in listed if r.rdtype == 16]) == 3000
    assert proxy.operations().count("ListResourceRecordSets") == 11  # 300 a page
    await provider.aclose()


async def test_a_failure_in_a_later_batch_reports_which_changes_went_through(moto, proxy):
    provider = make_provider(proxy.base_url)
    zone = await provider.find_zone(name("a"))
    changes = [Create(make_rrset(name(f"r{i}"), "TXT", 300, '"v"')) for i in range(1500)]
    proxy.fail_next(xml_fault(POST, "InvalidChangeBatch", "Invalid Resource Record", after=1))
    with pytest.raises(PartialApplyError) as partial:
        await provider.apply(zone, changes)
    assert (len(partial.value.applied), len(partial.value.not_applied)) == (1000, 500)
    assert not partial.value.transient
    assert len([k for k in records(moto, moto.zone_id) if k[1] == "TXT"]) == 1000
    await provider.aclose()


async def test_an_rrset_over_the_batch_limits_is_refused_before_any_write(proxy, route53):
    zone = await route53.find_zone(name("a"))
    values = [f'"{i}"' for i in range(1001)]
    with pytest.raises(UnsupportedError, match="more than one Route 53 request may carry"):
        await route53.apply(zone, [Create(make_rrset(name("a"), "TXT", 300, *values))])
    assert posted(proxy) == []


async def test_zones_are_found_over_every_page_of_a_truncated_listing(moto, proxy):
    for other in ("a.test.", "sub.example.com.", "zz.test."):
        add_zone(moto, other)
    proxy.zones_per_page = 1
    provider = make_provider(proxy.base_url)
    zone = await provider.find_zone(name("x.sub"))
    assert zone.name == dns.name.from_text("sub.example.com.")
    assert proxy.operations().count("ListHostedZonesByName") == 4
    assert (await provider.find_zone(name("mail"))).id == moto.zone_id  # cached: no request
    assert proxy.operations().count("ListHostedZonesByName") == 4
    await provider.aclose()


async def test_the_public_zone_is_taken_unless_private_zone_only(moto, proxy):
    private_id = add_zone(moto, ZONE, private=True)
    public = make_provider(proxy.base_url)
    private = make_provider(proxy.base_url, privateZoneOnly=True)
    assert (await public.find_zone(name("mail"))).id == moto.zone_id
    assert (await private.find_zone(name("mail"))).id == private_id
    await public.aclose()
    await private.aclose()


async def test_an_unknown_hosted_zone_id_is_zone_not_found(proxy):
    provider = make_provider(proxy.base_url, hostedZoneId="ZNOSUCHZONE")
    with pytest.raises(ZoneNotFoundError, match="NoSuchHostedZone"):
        await provider.find_zone(name("mail"))
    await provider.aclose()


async def test_requests_are_held_to_five_a_second_per_access_key(proxy):
    clock = FakeClock()
    provider, same_key = make_provider(proxy.base_url, clock), make_provider(proxy.base_url)
    other_key = make_provider(proxy.base_url, accessKeyId="AKIDOTHERACCOUNT")
    zone = await provider.find_zone(name("a"))
    for _ in range(3):
        await provider.list_rrsets(zone)
        await same_key.list_rrsets(zone)
        await other_key.list_rrsets(zone)
    assert (provider.counters.requests, same_key.counters.requests) == (4, 3)
    assert provider.counters.rate_limited + same_key.counters.rate_limited == 2
    assert other_key.counters.rate_limited == 0
    assert clock.sleeps == [pytest.approx(0.2)] * 2
    for p in (provider, same_key, other_key):
        await p.aclose()


def test_every_aws_error_code_maps_to_one_dnsauto_error(route53: Any):
    import botocore.exceptions

    def mapped(code: str, status: int = 400, message: str = "m") -> type:
        answer = {"Error": {"Code": code, "Message": message},
                  "ResponseMetadata": {"HTTPStatusCode": status}}  # fmt: skip
        exc = botocore.exceptions.ClientError(answer, "Op")  # type: ignore[arg-type]
        return type(route53._error("op", exc))

    assert mapped("Throttling") is TransientError
    assert mapped("ServiceUnavailable", 503) is TransientError
    assert mapped("InternalError", 500) is TransientError
    assert mapped("AccessDenied", 403) is AuthenticationError
    assert mapped("InvalidClientTokenId", 403) is AuthenticationError
    assert mapped("NoSuchHostedZone", 404) is ZoneNotFoundError
    assert mapped("InvalidChangeBatch", message="Tried to ... but it was not found") is (
        ConflictError
    )
    assert mapped("InvalidChangeBatch") is ProviderError
    assert mapped("InvalidInput") is ProviderError
    connection = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert type(route53._error("op", connection)) is TransientError


async def test_boto3_calls_run_off_the_event_loop_thread(route53):
    import threading

    loop_thread = threading.get_ident()
    await route53.find_zone(name("a"))
    threads: list[int] = []
    route53._client.meta.events.register(
        "before-send.route53", lambda **_: threads.append(threading.get_ident())
    )
    zone = await route53.find_zone(name("a"))  # cached: no request
    await route53.list_rrsets(zone)
    await route53.apply(zone, [Create(make_rrset(name("a"), "TXT", 300, '"x"'))])
    assert len(threads) == 2
    assert loop_thread not in threads


async def test_a_change_batch_left_unanswered_is_not_sent_twice(moto, proxy):
    provider = make_provider(proxy.base_url, timeout="1s")
    zone = await provider.find_zone(name("a"))
    proxy.fail_next(Fault(match=POST, stall=True))
    with pytest.raises(TransientError, match="may have been applied"):
        await provider.apply(zone, [Create(make_rrset(name("r"), "TXT", 300, '"v"'))])
    assert len(posted(proxy)) == 1
    await provider.aclose()
