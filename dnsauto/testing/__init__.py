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
``contract-*.`` labels of the zone, and removes them again. For a record type a provider does not
declare in ``capabilities.record_types`` the suite checks that it is refused.

Some behaviour needs the server's side; the class fills these hooks (each has a default that
either works for any provider or fails saying what to declare — never a skip):

- :meth:`ProviderContract.another_client`: a second client of the same account, which changes
  RRsets behind the provider's back (a conflict). Set :attr:`~ProviderContract.undetected_conflicts`
  to say why a provider cannot tell; the suite then checks the last writer wins cleanly.
- :attr:`~ProviderContract.records_per_page`: how many records one page of the provider's
  listing holds, or :attr:`~ProviderContract.unpaged` saying why it reads in one response.
- :meth:`ProviderContract.add_child_zone`: create a delegated child zone at the server, or
  :attr:`~ProviderContract.no_child_zones` saying why the account cannot hold one.
- a provider with ``capabilities.change_marker`` is checked to move its marker with every
  write, this client's and :meth:`~ProviderContract.another_client`'s; one without must
  report none.
- :meth:`ProviderContract.fail_next`: make the server refuse the credentials or be unavailable
  (the default queues faults on ``self.fake``, a :class:`~dnsauto.testing.fake_http.FakeApi`
  the ``provider`` fixture sets); :meth:`~ProviderContract.heal` ends it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from dnsauto.plugin.changes import Change, Create, Delete, Update
from dnsauto.plugin.errors import (
    AuthenticationError,
    ConflictError,
    ProviderError,
    TransientError,
    UnsupportedError,
    ZoneNotFoundError,
)
from dnsauto.plugin.provider import Provider, Zone
from dnsauto.testing.fake_http import FakeApi, Fault

__all__ = ["Failure", "ProviderContract", "make_rrset"]

_counter = itertools.count()

Failure = Literal["credentials", "unavailable"]


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

    # --- hooks a provider's contract class fills (see the module docstring) ------------------

    undetected_conflicts: ClassVar[str] = ""
    """Why the provider cannot tell that an RRset changed since it was read (its API writes
    without a precondition); empty when ``apply`` raises ``ConflictError``."""
    records_per_page: ClassVar[int | None] = None
    """How many records one page of the provider's record listing holds."""
    unpaged: ClassVar[str] = ""
    """Why the provider's record listing comes in one response (when it has no pages)."""
    no_child_zones: ClassVar[str] = ""
    """Why the server cannot hold a delegated child zone of the test zone."""

    fake: FakeApi | None = None
    """The fake API the ``provider`` fixture talks to, for the default :meth:`fail_next`."""

    def another_client(self, provider: Provider[Any]) -> Provider[Any]:
        """A second client of the same account (another tool, a person at the web console)."""
        return type(provider)(provider.settings, provider.context)

    async def add_child_zone(self, provider: Provider[Any], child: dns.name.Name) -> dns.name.Name:
        """Create the zone ``child`` (under the test zone) at the server; return its apex."""
        raise NotImplementedError(
            f"{type(self).__name__} must fill add_child_zone or say why in no_child_zones"
        )

    async def fail_next(self, provider: Provider[Any], failure: Failure) -> Provider[Any] | str:
        """A provider whose calls now fail as ``failure``, or the reason the server cannot.

        ``credentials``: the server refuses the credentials; ``unavailable``: it answers 503.
        """
        if self.fake is None:
            raise NotImplementedError(f"{type(self).__name__} must set self.fake or fill fail_next")
        status = 401 if failure == "credentials" else 503
        self.fake.fail_next(Fault(status=status, times=1_000))
        return provider

    async def heal(self, provider: Provider[Any]) -> None:
        """Undo :meth:`fail_next`."""
        if self.fake is not None:
            self.fake.faults.clear()

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

    def assert_last_writer_won(
        self, listed: dns.rrset.RRset | None, ours: dns.rrset.RRset, added_behind: set[str]
    ) -> None:
        """Every value of ``ours`` is listed; besides them only values the other writer added
        behind the plan may remain."""
        values = _values(listed)
        assert _values(ours) <= values
        assert values <= _values(ours) | added_behind

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

    # --- conflicts ---------------------------------------------------------------------------

    async def test_update_of_an_rrset_changed_behind_the_plan_conflicts_or_replaces_it(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        old = make_rrset(name, "TXT", 300, '"planned"')
        await self.write(provider, zone, Create(old))
        assert _values(await self.read(provider, zone, name, "TXT")) == _values(old)  # the plan
        changed = make_rrset(name, "TXT", 300, '"planned"', '"someone else"')
        other = self.another_client(provider)
        try:
            await other.find_zone(zone.name)
            await other.apply(zone, [_raised(Update(old, changed), zone.min_ttl)])
        finally:
            await other.aclose()
        new = make_rrset(name, "TXT", 300, '"ours"')
        if not self.undetected_conflicts:
            with pytest.raises(ConflictError):
                await self.write(provider, zone, Update(old, new))
            assert _values(await self.read(provider, zone, name, "TXT")) == _values(changed)
            return
        # The API writes without a precondition (see undetected_conflicts): every value of ours
        # lands, no value the plan removed survives, and anything else is the other writer's
        # (a record API keeps a value added behind the plan; the next read sees it).
        await self.write(provider, zone, Update(old, new))
        listed = await self.read(provider, zone, name, "TXT")
        self.assert_last_writer_won(listed, new, _values(changed) - _values(old))

    async def test_create_of_an_rrset_created_behind_the_plan_conflicts_or_replaces_it(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        assert await self.read(provider, zone, name, "TXT") is None  # the plan: nothing there
        theirs = make_rrset(name, "TXT", 300, '"theirs"')
        other = self.another_client(provider)
        try:
            await other.find_zone(zone.name)
            await other.apply(zone, [_raised(Create(theirs), zone.min_ttl)])
        finally:
            await other.aclose()
        ours = make_rrset(name, "TXT", 300, '"ours"')
        if not self.undetected_conflicts:
            with pytest.raises(ConflictError):
                await self.write(provider, zone, Create(ours))
            assert _values(await self.read(provider, zone, name, "TXT")) == _values(theirs)
            return
        await self.write(provider, zone, Create(ours))
        listed = await self.read(provider, zone, name, "TXT")
        self.assert_last_writer_won(listed, ours, _values(theirs))

    # --- listings of many pages ----------------------------------------------------------------

    async def test_listing_returns_every_page(self, provider: Provider[Any], zone: Zone) -> None:
        if self.records_per_page is None:
            assert self.unpaged, "declare records_per_page, or say why in unpaged"
            count = 60  # no pages: still more than a handful, read in one response
        else:
            assert not self.unpaged, "declare records_per_page or unpaged, not both"
            count = self.records_per_page + 1  # with the zone's own records: two pages at least
        names = [self.name(zone) for _ in range(count)]
        rrsets = [make_rrset(n, "TXT", 300, f'"page {i}"') for i, n in enumerate(names)]
        batch = provider.capabilities.max_changes_per_batch or len(rrsets)
        for start in range(0, len(rrsets), batch):
            await self.write(provider, zone, *(Create(r) for r in rrsets[start : start + batch]))
        whole = {(r.name, r.rdtype): _values(r) for r in await provider.list_rrsets(zone)}
        assert [r.name for r in rrsets if whole.get((r.name, r.rdtype)) != _values(r)] == []
        chosen = {(r.name, r.rdtype): _values(r) for r in await provider.list_rrsets(zone, names)}
        assert [r.name for r in rrsets if chosen.get((r.name, r.rdtype)) != _values(r)] == []

    # --- delegated child zones -----------------------------------------------------------------

    async def test_find_zone_finds_a_delegated_child_zone_as_its_own_zone(
        self, provider: Provider[Any], zone_name: dns.name.Name
    ) -> None:
        child = dns.name.from_text("contract-child", origin=zone_name)
        deep = dns.name.from_text("_dmarc.mail", origin=child)
        if self.no_child_zones:
            # The server cannot hold one (see no_child_zones): the name is in the parent zone.
            assert (await provider.find_zone(deep)).name == zone_name
            return
        child = await self.add_child_zone(provider, child)
        deep = dns.name.from_text("_dmarc.mail", origin=child)
        assert (await provider.find_zone(deep)).name == child
        assert (await provider.find_zone(child)).name == child
        sibling = dns.name.from_text("_contract.sibling", origin=zone_name)
        assert (await provider.find_zone(sibling)).name == zone_name

    async def test_subzones_names_the_delegated_child_zone_that_holds_a_name(
        self, provider: Provider[Any], zone_name: dns.name.Name
    ) -> None:
        child = dns.name.from_text("contract-child", origin=zone_name)
        if not self.no_child_zones:
            child = await self.add_child_zone(provider, child)
        deep = dns.name.from_text("_dmarc.mail", origin=child)
        sibling = dns.name.from_text("_contract.sibling", origin=zone_name)
        zone, _ = await provider.read_zone(zone_name, [deep, sibling])
        found = await provider.subzones(zone, [deep, sibling])
        assert found == (set() if self.no_child_zones else {child})

    # --- reading a zone in one call, change markers -------------------------------------------

    async def test_read_zone_finds_the_zone_and_lists_the_names_asked(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        await self.write(provider, zone, Create(make_rrset(name, "TXT", 300, '"read at once"')))
        for asked in (zone.name, name):
            found, listed = await provider.read_zone(asked, [name])
            assert found.name == zone.name
            assert {_values(r).pop() for r in listed if r.name == name} == {'"read at once"'}

    async def test_the_change_marker_moves_with_every_change_or_is_absent(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        if not provider.capabilities.change_marker:
            assert zone.marker is None, "a Zone.marker without capabilities.change_marker"
            assert await provider.change_marker(zone) is None
            return
        assert zone.marker is not None, "capabilities.change_marker, but find_zone gave none"
        before = await provider.change_marker(zone)
        assert before is not None
        assert await provider.change_marker(zone) == before, "it moved while nothing changed"
        name = self.name(zone)
        ours = make_rrset(name, "TXT", 300, '"marked"')
        await self.write(provider, zone, Create(ours))
        mine = await provider.change_marker(zone)
        assert mine not in (None, before), "this client's write left the marker as it was"
        other = self.another_client(provider)
        try:
            await other.find_zone(zone.name)
            theirs = make_rrset(name, "TXT", 300, '"changed by someone else"')
            await other.apply(zone, [_raised(Update(ours, theirs), zone.min_ttl)])
        finally:
            await other.aclose()
        after = await provider.change_marker(zone)
        assert after not in (None, mine), "another client's write left the marker as it was"
        found, _ = await provider.read_zone(zone.name, [name])
        assert found.marker == after

    # --- errors ----------------------------------------------------------------------------------

    async def test_refused_credentials_raise_a_permanent_authentication_error(
        self, provider: Provider[Any], zone_name: dns.name.Name
    ) -> None:
        failing = await self.fail_next(provider, "credentials")
        try:
            if isinstance(failing, str):
                assert failing, "fail_next must say why the server cannot refuse credentials"
                return
            with pytest.raises(AuthenticationError) as refused:
                await failing.find_zone(zone_name)
            assert not refused.value.transient
        finally:
            await self.heal(provider)
            if not isinstance(failing, str) and failing is not provider:
                await failing.aclose()

    async def test_an_unavailable_server_raises_a_transient_error(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        failing = await self.fail_next(provider, "unavailable")
        name = self.name(zone)
        try:
            if isinstance(failing, str):
                assert failing, "fail_next must say why the server cannot be made unavailable"
                return
            with pytest.raises(TransientError) as listing:
                await failing.list_rrsets(zone, [name])
            assert listing.value.transient
            with pytest.raises(TransientError) as writing:
                await self.write(failing, zone, Create(make_rrset(name, "TXT", 300, '"x"')))
            assert writing.value.transient
        finally:
            await self.heal(provider)
            if not isinstance(failing, str) and failing is not provider:
                await failing.aclose()

    # --- TTLs ------------------------------------------------------------------------------------

    async def test_the_reported_minimum_ttl_is_what_the_server_keeps(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        await self.write(provider, zone, Create(make_rrset(name, "TXT", 1, '"short"')))
        listed = await self.read(provider, zone, name, "TXT")
        assert listed is not None
        assert listed.ttl == (zone.min_ttl or 1)

    async def test_a_ttl_below_the_reported_minimum_is_refused_or_raised(
        self, provider: Provider[Any], zone: Zone
    ) -> None:
        name = self.name(zone)
        rrset = make_rrset(name, "TXT", 1, '"too short"')
        refused: ProviderError | None = None
        try:
            await provider.apply(zone, [Create(rrset)])  # as is: past the core's raising
        except ProviderError as error:
            refused = error
        if refused is not None:
            assert zone.min_ttl is not None, "TTL 1 refused but the zone reports no minimum"
            assert not refused.transient
            assert await self.read(provider, zone, name, "TXT") is None
            return
        listed = await self.read(provider, zone, name, "TXT")
        assert listed is not None
        assert listed.ttl >= (zone.min_ttl or 1)
