"""Which zone a desired RRset belongs to: the deepest zone that holds its name.

A domain's records all lie at or below its name, and some may lie in a zone of their own below
the domain's zone: the SPF record of an MX host ``mail.sub.example.com`` when
``sub.example.com`` is delegated. Written into the parent, such a record sits below the zone
cut, where no nameserver serves it. The zones below are those of the configured domains
(each domain's ``origin``, or its name) and those the provider holds or delegates
(:meth:`~dnsauto.plugin.provider.Provider.subzones`).

A record in another configured domain's zone is left to that domain's sync, which publishes
what its own configuration asks for there (as octoDNS refuses a record under a configured
sub-zone): each zone is written by the runs of its own domain only. A record in a zone no
configured domain publishes is not published at all, with a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import dns.name
import dns.rdatatype
import dns.rrset

__all__ = ["ConfiguredZones", "Cuts", "Elsewhere", "split_by_zone", "zone_cut"]

Cuts = Mapping[dns.name.Name, str | None]
"""The apexes of zones below a zone, each with the configured domain that publishes it (None
for a zone no configured domain publishes)."""


@dataclass
class Elsewhere:
    """Desired RRsets that belong to a zone below the one planned."""

    zone: dns.name.Name
    domain: str | None
    """The configured domain whose sync publishes that zone; None when there is none."""
    rrsets: list[dns.rrset.RRset] = field(default_factory=list)

    @property
    def keys(self) -> list[tuple[dns.name.Name, dns.rdatatype.RdataType]]:
        return [(r.name, r.rdtype) for r in self.rrsets]


def zone_cut(name: dns.name.Name, zone: dns.name.Name, cuts: Cuts) -> dns.name.Name | None:
    """The apex of the deepest zone of ``cuts`` that holds ``name`` and lies below ``zone``."""
    if not name.is_subdomain(zone):
        return None
    while name != zone:
        if name in cuts:
            return name
        name = name.parent()
    return None


class ConfiguredZones:
    """The zones of the configured domains, each with the domain whose sync publishes it."""

    def __init__(self, zones: Mapping[dns.name.Name, str]) -> None:
        self.zones = dict(zones)
        self._above = {parent for zone in self.zones for parent in _parents(zone)}
        """The names (lower-case labels) with a configured zone below: only their zones can
        hold a cut."""

    def below(self, zone: dns.name.Name) -> list[tuple[dns.name.Name, str]]:
        """Every configured zone below ``zone``, with its domain, in canonical order."""
        if _key(zone.labels) not in self._above:
            return []
        return sorted(
            (name, domain)
            for name, domain in self.zones.items()
            if name != zone and name.is_subdomain(zone)
        )

    def between(
        self, zone: dns.name.Name, names: Iterable[dns.name.Name], *, own: dns.name.Name
    ) -> dict[dns.name.Name, str | None]:
        """The zones between ``zone`` and ``names`` (their ancestors below ``zone``), ``own``
        and those above it left out: ``own`` is the zone the domain's configuration names,
        which lies inside ``zone`` when the provider has no such zone (a domain that is no
        zone of its own); its names are then its own, up to any deeper zone."""
        cuts: dict[dns.name.Name, str | None] = {}
        if _key(zone.labels) not in self._above:
            return cuts
        for name in names:
            while name != zone and name != own and name.is_subdomain(zone):
                if name in self.zones:
                    cuts[name] = self.zones[name]
                name = name.parent()
        return cuts


def _parents(name: dns.name.Name) -> Iterator[tuple[bytes, ...]]:
    labels = _key(name.labels)
    for start in range(1, len(labels)):
        yield labels[start:]


def _key(labels: tuple[bytes, ...]) -> tuple[bytes, ...]:
    return tuple(label.lower() for label in labels)


def split_by_zone(
    zone: dns.name.Name, rrsets: Iterable[dns.rrset.RRset], cuts: Cuts
) -> tuple[list[dns.rrset.RRset], list[Elsewhere]]:
    """``rrsets`` that belong to ``zone`` itself, and the others grouped by the zone below
    that holds them (in the order first met)."""
    here: list[dns.rrset.RRset] = []
    elsewhere: dict[dns.name.Name, Elsewhere] = {}
    for rrset in rrsets:
        cut = zone_cut(rrset.name, zone, cuts) if cuts else None
        if cut is None:
            here.append(rrset)
            continue
        elsewhere.setdefault(cut, Elsewhere(cut, cuts[cut])).rrsets.append(rrset)
    return here, list(elsewhere.values())
