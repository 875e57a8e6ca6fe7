"""The provider contract suite: the same tests, run by every provider against its server.

Subclass :class:`ProviderContract` in a provider's tests and give it two fixtures::

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        async def provider(self) -> AsyncIterator[Provider[Any]]:
            p = MyProvider(settings, ProviderContext(server_id="test"))
            yield p
            await p.aclose()

        @pytest.fixture
        def zone_name(self) -> dns.name.Name:
            return dns.name.from_text("example.test.")   # an existing zone at the server

The zone may hold other records; the suite only writes names under ``_contract.`` and
``contract-*.`` labels of the zone, and removes them again. Tests for record types a provider
does not declare in ``capabilities.record_types`` are skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from dnsauto.plugin.changes import Change, Create, Delete, Update
from dnsauto.plugin.errors import UnsupportedError, ZoneNotFoundError
from dnsauto.plugin.provider import Provider, Zone

__all__ = ["ProviderContract", "make_rrset"]

_counter = itertools.count()


def make_rrset(name: dns.name.Name | str, rdtype: str, ttl: int, *values: str) -> dns.rrset.RRset:
    """An RRset from zone-file rdata text."""
    owner = name if isinstance(name, dns.name.Name) else dns.name.from_text(name)
    return dns.rrset.from_text_list(owner, ttl, dns.rdataclass.IN, rdtype, list(values))


def _raised(change: Change, min_ttl: int | None) -> Change:
    def up(rrset: dns.rrset.RRset) -> dns.rrset.RRset:
        if min_ttl is None or rrset.ttl >= min_ttl:
            return rrset
        return dns.rrset.from_rdata_list(rrset.name, min_ttl, list(rrset))

    if isinstance(change, Create):
        return Create(up(change.new))
    if isinstance(change, Update):
        return Update(up(change.old), up(change.new))
    return Delete(up(change.old))


def _values(rrset: dns.rrset.RRset | None) -> set[str]:
    return {r.to_text() for r in rrset} if rrset is not None else set()


class ProviderContract:
    """Behaviour every provider must show. Needs fixtures ``provider`` and ``zone_name``."""

    @pytest.fixture
    async def zone(self, provider: Provider[Any], zone_name: dns.name.Name) -> AsyncIterator[Zone]:
        zone = await provider.find_zone(zone_name)
        created: list[dns.rrset.RRset] = []
        self._created = created
        yield zone
        await self._cleanup(provider, zone)

    async def _cleanup(self, provider: Provider[Any], zone: Zone) -> None:
        mine = [
            r
            for r in await provider.list_rrsets(zone)
            if any(
                label.startswith((b"_contract", b"contract-"))
                for label in r.name.relativize(zone.name).labels
            )
        ]
        if mine:
            await provider.apply(zone, [Delete(r) for r in mine])

    def name(self, zone: Zone, prefix: str = "contract") -> dns.name.Name:
        label = f"{prefix}-{next(_counter)}"
        return dns.name.from_text(label, origin=zone.name)

    async def read(
        self, provider: Provider[Any], zone: Zone, name: dns.name.Name, rdtype: str
    ) -> dns.rrset.RRset | None:
        wanted = dns.rdatatype.from_text(rdtype)
        for rrset in await provider.list_rrsets(zone, [name]):
            if rrset.name == name and rrset.rdtype == wanted:
                return rrset
        return None

    async def write(self, provider: Provider[Any], zone: Zone, *changes: Change) -> None:
        """Apply ``changes`` as the core does: TTLs below the zone's ``min_ttl`` raised to it."""
        await provider.apply(zone, [_raised(change, zone.min_ttl) for change in changes])

    def ttl(self, zone: Zone, wanted: int) -> int:
        """The TTL a record written with ``wanted`` is listed with (the zone's minimum at least)."""
        return max(wanted, zone.min_ttl or 0)

    def supports(self, provider: Provider[Any], rdtype: str) -> bool:
        return dns.rdatatype.from_text(rdtype) in provider.capabilities.record_types

    async def assert_refused(
        self, provider: Provider[Any], zone: Zone, rrset: dns.rrset.RRset
    ) -> None:
        """A type the provider declares it cannot hold is refused, permanently, writing nothing."""
        with pytest.raises(UnsupportedError) as refused:
            await self.write(provider, zone, Create(rrset))
        assert not refused.value.transient
        listed = await self.read(provider, zone, rrset.name, dns.rdatatype.to_text(rrset.rdtype))
        assert listed is None

    # --- zones ------------------------------------------------------------------------------

    async def test_find_zone_returns_the_zone_apex_for_the_apex(
        self, provider: Provider[Any], zone_name: dns.name.Name
    ) -> None:
        zone = await provider.find_zone(zone_name)
        assert zone.name == zone_name

    async def test_find_zone_walks_up_from_a_name_inside_the_zone(
        self, provider: Provider[Any], zone_name: dns.name.Name
    ) -> None:
        deep = dns.name.from_text("a.b._contract", origin=zone_name)
        zone = await provider.find_zone(deep)
        assert zone.name == zone_name

    async def test_find_zone_of_a_domain_not_hosted_raises_zone_not_found(
        self, provider: Provider[Any]
    ) -> None:
        with pytest.raises(ZoneNotFoundError):
            await provider.find_zone(dns.name.from_text("no-such-zone-dnsauto.invalid."))

    # --- reading and writing ----------------------------------------------------------------

    async def test_created_txt_rrset_is_listed_with_its_values_and_ttl(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        rrset = make_rrset(name, "TXT", 300, '"v=spf1 mx -all"', '"second value"')
        await self.write(provider, zone, Create(rrset))
        listed = await self.read(provider, zone, name, "TXT")
        assert listed is not None
        assert _values(listed) == _values(rrset)
        assert listed.ttl == self.ttl(zone, 300)

    async def test_txt_over_255_bytes_round_trips_as_character_strings(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        long_value = "v=DKIM1; k=rsa; h=sha256; p=" + "A" * 392
        strings = [long_value[i : i + 255] for i in range(0, len(long_value), 255)]
        rrset = make_rrset(name, "TXT", 300, " ".join(f'"{s}"' for s in strings))
        await self.write(provider, zone, Create(rrset))
        listed = await self.read(provider, zone, name, "TXT")
        assert listed is not None
        (rdata,) = list(listed)
        assert b"".join(rdata.strings).decode() == long_value

    async def test_txt_with_quotes_semicolons_and_backslashes_round_trips(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        rrset = make_rrset(name, "TXT", 300, r'"a \"quoted\" word; and a \\ backslash"')
        await self.write(provider, zone, Create(rrset))
        assert _values(await self.read(provider, zone, name, "TXT")) == _values(rrset)

    async def test_update_replaces_the_whole_rrset(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        old = make_rrset(name, "TXT", 300, '"one"', '"two"')
        new = make_rrset(name, "TXT", 600, '"three"')
        await self.write(provider, zone, Create(old))
        await self.write(provider, zone, Update(old, new))
        listed = await self.read(provider, zone, name, "TXT")
        assert _values(listed) == {'"three"'}
        assert listed is not None
        assert listed.ttl == self.ttl(zone, 600)

    async def test_delete_removes_the_rrset_and_leaves_other_types_at_the_name(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        txt = make_rrset(name, "TXT", 300, '"keep the MX"')
        mx = make_rrset(name, "MX", 300, f"10 mail.{zone.name}")
        if not self.supports(provider, "MX"):
            await self.assert_refused(provider, zone, mx)
            return
        await self.write(provider, zone, Create(txt), Create(mx))
        await self.write(provider, zone, Delete(txt))
        assert await self.read(provider, zone, name, "TXT") is None
        assert _values(await self.read(provider, zone, name, "MX")) == _values(mx)

    async def test_apply_leaves_rrsets_it_was_not_given_untouched(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        foreign_name, our_name = self.name(zone), self.name(zone)
        foreign = make_rrset(foreign_name, "TXT", 300, '"not ours"')
        await self.write(provider, zone, Create(foreign))
        await self.write(provider, zone, Create(make_rrset(our_name, "TXT", 300, '"ours"')))
        assert _values(await self.read(provider, zone, foreign_name, "TXT")) == {'"not ours"'}

    async def test_a_batch_of_many_changes_applies_every_one(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        limit = provider.capabilities.max_changes_per_batch or 25
        names = [self.name(zone) for _ in range(min(limit, 25))]
        rrsets = [make_rrset(n, "TXT", 300, f'"value {i}"') for i, n in enumerate(names)]
        await self.write(provider, zone, *(Create(r) for r in rrsets))
        listed = await provider.list_rrsets(zone, names)
        found = {(r.name, r.rdtype): _values(r) for r in listed}
        for rrset in rrsets:
            assert found.get((rrset.name, rrset.rdtype)) == _values(rrset)

    async def test_listing_chosen_names_returns_their_rrsets(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        first, second = self.name(zone), self.name(zone)
        await self.write(
            provider,
            zone,
            Create(make_rrset(first, "TXT", 300, '"first"')),
            Create(make_rrset(second, "TXT", 300, '"second"')),
        )
        listed = await provider.list_rrsets(zone, [first])
        assert {r.name for r in listed if r.name in (first, second)} == {first}

    async def test_listing_a_name_with_no_records_returns_nothing_for_it(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        listed = await provider.list_rrsets(zone, [name])
        assert [r for r in listed if r.name == name] == []

    # --- the mail record types --------------------------------------------------------------

    @pytest.mark.parametrize(
        ("rdtype", "value"),
        [
            ("MX", "10 mx1.{zone}"),
            ("CNAME", "mail.{zone}"),
            ("SRV", "0 1 993 imap.{zone}"),
            ("CAA", '0 issue "letsencrypt.org;accounturi=https://acme.test/acct/1"'),
            ("CAA", '0 iodef "mailto:postmaster@example.test"'),
            ("TLSA", "3 1 1 " + "ab" * 32),
        ],
    )
    async def test_mail_record_type_round_trips(
        self, provider: Provider[Any], zone: Zone, rdtype: str, value: str
    ) -> None:
        if rdtype in ("SRV", "TLSA"):
            name = dns.name.from_text(
                f"_{993 + next(_counter)}._tcp", self.name(zone, "contract-svc")
            )
        else:
            name = self.name(zone)
        rrset = make_rrset(name, rdtype, 300, value.format(zone=zone.name.to_text()))
        if not self.supports(provider, rdtype):
            await self.assert_refused(provider, zone, rrset)
            return
        await self.write(provider, zone, Create(rrset))
        assert _values(await self.read(provider, zone, name, rdtype)) == _values(rrset)

    async def test_listing_the_whole_zone_includes_created_rrsets_by_absolute_name(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        await self.write(provider, zone, Create(make_rrset(name, "TXT", 300, '"whole zone"')))
        listed = await provider.list_rrsets(zone)
        assert all(r.name.is_absolute() for r in listed)
        assert any(r.name == name and _values(r) == {'"whole zone"'} for r in listed)
