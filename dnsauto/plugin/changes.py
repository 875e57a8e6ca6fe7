"""A change to one RRset: :class:`Create`, :class:`Update` or :class:`Delete` (octoDNS's shape).

Changes are values over dnspython RRsets; a provider's ``apply`` receives them and only
translates them into its API's calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import dns.name
import dns.rdata
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.CAA
import dns.rrset

__all__ = [
    "Change",
    "Create",
    "Delete",
    "Update",
    "comparable_value",
    "rrset_of",
    "rrset_values",
]


def rrset_of(name: dns.name.Name, ttl: int, rdatas: Sequence[dns.rdata.Rdata]) -> dns.rrset.RRset:
    """The RRset of ``rdatas`` (one class and type; a repeated record kept once) at ``ttl``:
    what ``dns.rrset.from_rdata_list`` makes, each record hashed once rather than twice
    (dnspython's ``add`` looks a record up, then stores it, and hashing a record renders its
    wire form: half the cost of building a domain's desired RRsets)."""
    first = rdatas[0]
    kind = (first.rdclass, first.rdtype, first.covers())
    if any((rd.rdclass, rd.rdtype, rd.covers()) != kind for rd in rdatas):
        raise dns.rdataset.IncompatibleTypes
    rrset = dns.rrset.RRset(name, *kind)
    rrset.update_ttl(ttl)
    rrset.items = dict.fromkeys(rdatas)
    return rrset


def rrset_values(rrset: dns.rrset.RRset | None) -> list[str]:
    """The rdata of an RRset as sorted zone-file text."""
    if rrset is None:
        return []
    return sorted(rdata.to_text() for rdata in rrset)


def comparable_value(rdata: dns.rdata.Rdata) -> str:
    """Rdata as comparable text: TXT by its joined strings, however they were split; CAA with
    the blanks RFC 8659 §4.2 allows in an ``issue`` value removed (``ca; accounturi=x`` is
    ``ca;accounturi=x``); other types in canonical form (RFC 4034 §6.2: the names inside MX,
    SRV, CNAME, ... lowercased)."""
    if rdata.rdtype in (dns.rdatatype.TXT, dns.rdatatype.SPF):
        return b"".join(rdata.strings).decode("utf-8", "backslashreplace")  # type: ignore[attr-defined]
    if rdata.rdtype == dns.rdatatype.CAA:
        return _comparable_caa(rdata)
    if rdata.rdtype in _LOWERED_IS_CANONICAL:
        return rdata.to_text().lower()
    wire = rdata.to_digestable()
    return dns.rdata.from_wire(rdata.rdclass, rdata.rdtype, wire, 0, len(wire)).to_text()


_LOWERED_IS_CANONICAL = frozenset(
    dns.rdatatype.RdataType.make(t)
    for t in ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "SSHFP", "TLSA")
)
"""The types whose canonical form's text is their text in lower case: their only letters are
in names (lowercased by RFC 4034 §6.2, as ``bytes.lower`` does) or in hexadecimal, which
dnspython writes in lower case already. Reading the canonical wire form back (the general
way) was a third of a propagation proof's CPU."""


def _comparable_caa(rdata: dns.rdata.Rdata) -> str:
    tag = bytes(rdata.tag).lower()  # type: ignore[attr-defined]
    value = bytes(rdata.value)  # type: ignore[attr-defined]
    if tag in (b"issue", b"issuewild"):
        value = _issue_value(value)
    flags: int = rdata.flags  # type: ignore[attr-defined]
    caa = cast(Callable[..., dns.rdata.Rdata], dns.rdtypes.ANY.CAA.CAA)  # untyped constructor
    return caa(rdata.rdclass, rdata.rdtype, flags, tag, value).to_text()


def _issue_value(value: bytes) -> bytes:
    """``issuer;tag=value;...`` without the blanks around ``;`` and ``=``, issuer lowercased."""
    issuer, semicolon, parameters = value.partition(b";")
    parts = [issuer.strip(b" \t").lower()]
    if semicolon:
        for parameter in parameters.split(b";"):
            key, equals, text = parameter.partition(b"=")
            parts.append(key.strip(b" \t") + equals + text.strip(b" \t"))
    return b";".join(parts)


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
