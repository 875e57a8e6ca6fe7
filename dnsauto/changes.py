"""A change to one RRset: :class:`Create`, :class:`Update` or :class:`Delete` (octoDNS's shape).

Changes are values over dnspython RRsets; a provider's ``apply`` receives them and only
translates them into its API's calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset

__all__ = ["Change", "Create", "Delete", "Update", "comparable_value", "rrset_values"]


def rrset_values(rrset: dns.rrset.RRset | None) -> list[str]:
    """The rdata of an RRset as sorted zone-file text."""
    if rrset is None:
        return []
    return sorted(rdata.to_text() for rdata in rrset)


def comparable_value(rdata: dns.rdata.Rdata) -> str:
    """Rdata as comparable text: TXT by its joined strings, however they were split; other
    types in canonical form (RFC 4034 §6.2: the names inside MX, SRV, CNAME, ... lowercased)."""
    if rdata.rdtype in (dns.rdatatype.TXT, dns.rdatatype.SPF):
        return b"".join(rdata.strings).decode("utf-8", "backslashreplace")  # type: ignore[attr-defined]
    wire = rdata.to_digestable()
    return dns.rdata.from_wire(rdata.rdclass, rdata.rdtype, wire, 0, len(wire)).to_text()


@dataclass(frozen=True)
class Create:
    """A new RRset where none of this name and type exists."""

    new: dns.rrset.RRset
    action = "create"

    @property
    def old(self) -> None:
        return None

    @property
    def name(self) -> dns.name.Name:
        return self.new.name

    @property
    def rdtype(self) -> dns.rdatatype.RdataType:
        return self.new.rdtype


@dataclass(frozen=True)
class Update:
    """An existing RRset replaced by another of the same name and type."""

    old: dns.rrset.RRset
    new: dns.rrset.RRset
    action = "update"

    @property
    def name(self) -> dns.name.Name:
        return self.new.name

    @property
    def rdtype(self) -> dns.rdatatype.RdataType:
        return self.new.rdtype


@dataclass(frozen=True)
class Delete:
    """An existing RRset removed whole."""

    old: dns.rrset.RRset
    action = "delete"

    @property
    def new(self) -> None:
        return None

    @property
    def name(self) -> dns.name.Name:
        return self.old.name

    @property
    def rdtype(self) -> dns.rdatatype.RdataType:
        return self.old.rdtype


Change = Create | Update | Delete
