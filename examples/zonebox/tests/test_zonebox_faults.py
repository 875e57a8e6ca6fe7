"""Zonebox's own behaviour under faults, beside the contract suite."""

from __future__ import annotations

import dns.name
import pytest
from dnsauto_zonebox.provider import ZoneboxProvider
from dnsauto_zonebox.testing import TOKEN, FakeZonebox
from zonebox_helpers import ZONE, make_provider

from dnsauto.plugin import AuthenticationError, Create, PartialApplyError
from dnsauto.testing import make_rrset
from dnsauto.testing.fake_http import Fault

APEX = dns.name.from_text(ZONE + ".")


async def test_the_zone_is_found_on_a_later_page_and_a_child_zone_is_its_own(
    zonebox: ZoneboxProvider,
) -> None:
    assert (await zonebox.find_zone(dns.name.from_text("z-last.test."))).id == "z-last.test"
    deep = dns.name.from_text("mail.sub.example.com.")
    assert (await zonebox.find_zone(deep)).id == "sub.example.com"


async def test_a_refused_token_is_permanent_names_the_field_and_is_not_shown(
    fake: FakeZonebox,
) -> None:
    provider = make_provider(fake, secret="wrong-token-value")
    with pytest.raises(AuthenticationError) as refused:
        await provider.find_zone(APEX)
    await provider.aclose()
    assert not refused.value.transient
    assert "secret" in str(refused.value)
    assert fake.count("GET", "/zones") == 1  # not retried
    assert "wrong-token-value" not in f"{refused.value} {provider.http!r}"


async def test_a_throttled_write_waits_as_told_and_is_applied(
    fake: FakeZonebox, zonebox: ZoneboxProvider
) -> None:
    zone = await zonebox.find_zone(APEX)
    fake.fail_next(Fault(match="PUT", status=429, headers={"Retry-After": "7"}))
    await zonebox.apply(zone, [Create(make_rrset(APEX, "TXT", 300, '"v=spf1 mx -all"'))])
    assert fake.rrsets(ZONE) == [
        {"name": "@", "type": "TXT", "ttl": 300, "values": ['"v=spf1 mx -all"']}
    ]
    assert 7.0 in zonebox.http.clock.sleeps  # type: ignore[attr-defined]


async def test_a_refusal_after_the_first_change_names_what_was_applied(
    fake: FakeZonebox, zonebox: ZoneboxProvider
) -> None:
    zone = await zonebox.find_zone(APEX)
    fake.fail_next(Fault(match="PUT", status=400, body={"error": "no"}, after=1))
    changes = [Create(make_rrset(f"n{i}.{ZONE}.", "TXT", 300, f'"{i}"')) for i in range(3)]
    with pytest.raises(PartialApplyError) as partial:
        await zonebox.apply(zone, changes)
    assert partial.value.applied == (changes[0],)
    assert partial.value.not_applied == (changes[1], changes[2])
    assert TOKEN not in str(partial.value)
