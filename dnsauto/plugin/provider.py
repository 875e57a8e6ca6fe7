"""What a provider plugin implements: its capabilities, the zones it finds, the RRsets it lists and
the changes it applies.

A plugin is a distribution that registers, in the entry-point group ``dnsauto.providers`` (see
:mod:`dnsauto.plugin.registry`), one :class:`Provider` subclass per Stalwart ``@type`` (the
entry-point name). The class names its pydantic settings model (a subclass of
:class:`~dnsauto.plugin.settings.DnsServerBase`) and declares its :class:`Capabilities`. It only
translates RRsets to and from its API: planning, ownership, batching, retries and propagation
checks live in the core.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import dns.name
import dns.rdatatype
import dns.rrset

from dnsauto.plugin.changes import Change
from dnsauto.plugin.context import ProviderContext
from dnsauto.plugin.settings import DnsServerBase

__all__ = ["MAIL_RECORD_TYPES", "Capabilities", "Provider", "ProviderContext", "Zone"]

MAIL_RECORD_TYPES = frozenset(
    dns.rdatatype.RdataType.make(t) for t in ("MX", "TXT", "CNAME", "SRV", "CAA", "TLSA")
)


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do; the core plans and batches around it."""

    record_types: frozenset[dns.rdatatype.RdataType] = MAIL_RECORD_TYPES
    """The record types the provider can hold."""
    max_changes_per_batch: int | None = None
    """How many RRset changes one ``apply`` call may carry; ``None`` for no limit."""
    atomic_batches: bool = False
    """Whether a batch applies all or nothing."""
    can_list_names: bool = True
    """Whether ``list_rrsets`` can read chosen names without reading the whole zone."""
    can_read: bool = True
    """False when the provider cannot see current records at all (``Manual``)."""
    requires_person: bool = False
    """True when ``apply`` only tells a person what to do (``Manual``)."""
    change_marker: bool = False
    """Whether the zones the provider finds carry a :attr:`Zone.marker` (a value that changes
    with every change of the zone, such as its SOA serial) and :meth:`Provider.change_marker`
    reads it afresh. The core then skips reading and planning a zone whose marker and desired
    records are those of its last successful sync (a full read still comes on a schedule)."""


@dataclass(frozen=True)
class Zone:
    """A zone at a provider: its apex name and the provider's own handle for it."""

    name: dns.name.Name
    id: str = ""
    min_ttl: int | None = None
    """The lowest TTL the provider accepts in this zone; lower TTLs are raised (and said)."""
    marker: str | None = None
    """The zone's change marker as the provider reported it when it found or read the zone
    (see :attr:`Capabilities.change_marker`); None when it has none."""

    def __str__(self) -> str:
        return self.name.to_text()


SettingsT = TypeVar("SettingsT", bound=DnsServerBase)


class Provider(abc.ABC, Generic[SettingsT]):
    """The RRset-level interface of one DNS host's API.

    Subclasses set :attr:`type_name`, :attr:`settings_model` and :attr:`capabilities`, and
    implement :meth:`find_zone`, :meth:`list_rrsets` and :meth:`apply`; :meth:`read_zone`,
    :meth:`change_marker` and :meth:`subzones` are optional. Errors are raised as
    :class:`~dnsauto.plugin.ProviderError` subclasses, mapped ``from`` the API's own errors in
    one place, and never carry secrets.
    """

    type_name: ClassVar[str]
    settings_model: ClassVar[type[DnsServerBase]]
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, settings: SettingsT, context: ProviderContext) -> None:
        self.settings = settings
        self.context = context

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abc.ABC in cls.__bases__ or getattr(cls, "__abstractmethods__", None):
            return
        missing = [a for a in ("type_name", "settings_model") if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"provider {cls.__qualname__} must declare {', '.join(missing)}")

    @abc.abstractmethod
    async def find_zone(self, name: dns.name.Name) -> Zone:
        """Return the zone that holds ``name``: the one with the longest matching apex.

        Must find delegated subdomains in their own zone (walk up the labels, or match the
        longest suffix among the account's zones). Raises ``ZoneNotFoundError`` when no zone
        at the provider contains the name, ``AuthenticationError`` when refused.
        """

    @abc.abstractmethod
    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        """Return the RRsets of ``zone`` at ``names`` (absolute), or all of them when ``None``.

        Must return every page of a paged API. May return RRsets at other names too (a
        provider that can only read the whole zone does); the core filters. TTLs are seconds.
        """

    @abc.abstractmethod
    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        """Carry out ``changes`` (at most ``capabilities.max_changes_per_batch``) in ``zone``.

        An ``Update`` replaces the whole RRset with ``new``; a ``Delete`` removes the RRset.
        Must not touch any other RRset. Should fail with ``ConflictError`` when the provider can
        tell that the RRset no longer matches ``old``. Raises ``TransientError`` for failures
        worth retrying.
        """

    async def read_zone(
        self, name: dns.name.Name, names: Collection[dns.name.Name] | None = None
    ) -> tuple[Zone, list[dns.rrset.RRset]]:
        """Find the zone of ``name`` and list its RRsets at ``names`` (optional).

        The same as :meth:`find_zone` then :meth:`list_rrsets` (``names`` only when
        ``capabilities.can_list_names``), which is what the default does; a provider whose
        API answers both at once overrides it to save a request per zone. With
        ``capabilities.change_marker`` the zone's :attr:`Zone.marker` must be the one of the
        records returned or of an earlier moment, never of a later one.
        """
        zone = await self.find_zone(name)
        listed = await self.list_rrsets(zone, names if self.capabilities.can_list_names else None)
        return zone, listed

    async def change_marker(self, zone: Zone) -> str | None:
        """The zone's change marker now, asked of the provider (optional).

        Providers with ``capabilities.change_marker`` must return a value that differs from
        every earlier one whenever any RRset of the zone changed in between, whoever changed
        it (this client, another one, a person), and stay the same while nothing changes. The
        default finds the zone again and returns its :attr:`Zone.marker` (None without the
        capability).
        """
        if not self.capabilities.change_marker:
            return None
        return (await self.find_zone(zone.name)).marker

    async def subzones(self, zone: Zone, names: Collection[dns.name.Name]) -> set[dns.name.Name]:
        """The apexes of the zones below ``zone`` that hold some of ``names`` (optional).

        Those are subdomains the provider serves as zones of their own, or that ``zone``
        delegates: a record at such a name belongs there, never in ``zone`` below the cut.
        The default asks :meth:`find_zone` for each name, one after another (an account's zone
        list is read once, :class:`~dnsauto.plugin.zones.ZoneList`); a provider that cannot
        read knows of none. A provider whose reading of the zone shows its delegations may
        answer from them instead.
        """
        if not self.capabilities.can_read:
            return set()
        found: set[dns.name.Name] = set()
        for name in sorted(set(names)):
            if name == zone.name or not name.is_subdomain(zone.name):
                continue
            if any(name.is_subdomain(known) for known in found):
                continue
            apex = (await self.find_zone(name)).name
            if apex != zone.name and apex.is_subdomain(zone.name):
                found.add(apex)
        return found

    async def wait_live(self, zone: Zone) -> None:
        """Wait for the provider's own "change is live" signal, where it has one (optional)."""

    async def aclose(self) -> None:
        """Release connections and sessions."""
