"""Prerequisites: a change made by someone else between reading and writing fails the UPDATE."""

from __future__ import annotations

import itertools

import dns.name
import dns.rrset
import pytest
from dnsauto_rfc2136.provider import TsigProvider
from rfc2136_testing import tsig_provider

from dnsauto.plugin import ConflictError, Create, Delete, Update, Zone
from dnsauto.testing import make_rrset
from dnsauto.testing.servers import ZONE, RunningServer

pytestmark = pytest.mark.servers

ZONE_NAME = dns.name.from_text(ZONE)
_labels = itertools.count()


def fresh(prefix: str) -> dns.name.Name:
    return dns.name.from_text(f"{prefix}-{next(_labels)}", ZONE_NAME)


async def current(provider: TsigProvider, name: dns.name.Name, rdtype: str = "TXT") -> set[str]:
    for rrset in await provider.list_rrsets(Zone(ZONE_NAME), [name]):
        if rrset.name == name and rrset.rdtype.name == rdtype:
            return {r.to_text() for r in rrset}
    return set()


def txt(name: dns.name.Name, *values: str) -> dns.rrset.RRset:
    return make_rrset(name, "TXT", 300, *(f'"{v}"' for v in values))


async def test_concurrent_update_of_the_same_rrset_fails_the_second_writer(
    dns_server: RunningServer,
) -> None:
    ours, theirs = tsig_provider(dns_server), tsig_provider(dns_server, "hmac-sha512")
    zone = Zone(ZONE_NAME)
    name = fresh("conflict-race")
    read = txt(name, "original")
    await ours.apply(zone, [Create(read)])
    # Both read "original"; they write, and ours comes second.
    await theirs.apply(zone, [Update(read, txt(name, "theirs"))])
    with pytest.raises(ConflictError, match="NXRRSET") as caught:
        await ours.apply(zone, [Update(read, txt(name, "ours"))])
    assert caught.value.zone == ZONE
    assert await current(ours, name) == {'"theirs"'}


async def test_create_where_someone_created_the_rrset_meanwhile_fails(
    dns_server: RunningServer,
) -> None:
    provider = tsig_provider(dns_server)
    zone = Zone(ZONE_NAME)
    name = fresh("conflict-create")
    await provider.apply(zone, [Create(txt(name, "someone else"))])
    with pytest.raises(ConflictError, match="YXRRSET"):
        await provider.apply(zone, [Create(txt(name, "ours"))])
    assert await current(provider, name) == {'"someone else"'}


async def test_delete_of_an_rrset_that_changed_meanwhile_fails(dns_server: RunningServer) -> None:
    provider = tsig_provider(dns_server)
    zone = Zone(ZONE_NAME)
    name = fresh("conflict-delete")
    read = txt(name, "read")
    await provider.apply(zone, [Create(read)])
    await provider.apply(zone, [Update(read, txt(name, "changed"))])
    with pytest.raises(ConflictError):
        await provider.apply(zone, [Delete(read)])
    assert await current(provider, name) == {'"changed"'}


async def test_update_fails_when_someone_added_a_value_to_the_rrset(
    dns_server: RunningServer,
) -> None:
    # "RRset exists (value dependent)" must match the whole RRset, not just contain our values.
    provider = tsig_provider(dns_server)
    zone = Zone(ZONE_NAME)
    name = fresh("conflict-superset")
    read = txt(name, "ours")
    await provider.apply(zone, [Create(read)])
    await provider.apply(zone, [Update(read, txt(name, "ours", "added by someone"))])
    with pytest.raises(ConflictError):
        await provider.apply(zone, [Update(read, txt(name, "replacement"))])
    assert await current(provider, name) == {'"ours"', '"added by someone"'}


async def test_a_failed_prerequisite_applies_none_of_the_batch(dns_server: RunningServer) -> None:
    provider = tsig_provider(dns_server)
    zone = Zone(ZONE_NAME)
    taken, free = fresh("conflict-taken"), fresh("conflict-free")
    await provider.apply(zone, [Create(txt(taken, "already there"))])
    with pytest.raises(ConflictError):
        await provider.apply(zone, [Create(txt(free, "would be new")), Create(txt(taken, "ours"))])
    assert await current(provider, free) == set()


async def test_update_ignores_a_ttl_change_made_meanwhile(dns_server: RunningServer) -> None:
    # Prerequisites compare values, not TTLs (RFC 2136 section 2.4.2).
    provider = tsig_provider(dns_server)
    zone = Zone(ZONE_NAME)
    name = fresh("conflict-ttl")
    read = txt(name, "value")
    await provider.apply(zone, [Create(read)])
    await provider.apply(zone, [Update(read, make_rrset(name, "TXT", 60, '"value"'))])
    await provider.apply(zone, [Update(read, txt(name, "new"))])
    assert await current(provider, name) == {'"new"'}
