"""Record data to and from the forms HTTP APIs use, in one implementation.

APIs split rdata into fields (MX priority, SRV priority/weight/port/target, CAA
flags/tag/value), take TXT either as one string or as quoted 255-byte character-strings, and
name records absolutely or relative to the zone (``@`` or an empty string at the apex). Targets
inside rdata are always absolute here, whatever trailing-dot convention the API has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CAA
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.SRV

from dnsauto.plugin.txt import MAX_STRING, split_text

_MX: Any = dns.rdtypes.ANY.MX.MX
_SRV: Any = dns.rdtypes.IN.SRV.SRV
_CAA: Any = dns.rdtypes.ANY.CAA.CAA

__all__ = [
    "CaaFields",
    "SrvFields",
    "caa_fields",
    "caa_rdata",
    "host_text",
    "mx_fields",
    "mx_rdata",
    "owner_fqdn",
    "owner_from_fqdn",
    "owner_from_relative",
    "owner_relative",
    "rdata_from_text",
    "srv_fields",
    "srv_rdata",
    "target_name",
    "txt_from_joined",
    "txt_from_quoted",
    "txt_joined",
    "txt_quoted",
]


# --- owner names ------------------------------------------------------------------------------


def owner_fqdn(name: dns.name.Name) -> str:
    """``name`` as an FQDN without the trailing dot (``mail.example.com``)."""
    return name.to_text(omit_final_dot=True)


def owner_relative(name: dns.name.Name, zone: dns.name.Name, apex: str = "@") -> str:
    """``name`` relative to ``zone``; ``apex`` (``@`` or ``""``) for the zone itself."""
    if name == zone:
        return apex
    return name.relativize(zone).to_text()


def owner_from_fqdn(text: str) -> dns.name.Name:
    """An absolute name from an FQDN with or without its trailing dot."""
    return dns.name.from_text(text if text.endswith(".") else text + ".")


def owner_from_relative(text: str, zone: dns.name.Name) -> dns.name.Name:
    """An absolute name from a name relative to ``zone`` (``@`` or ``""`` for the apex)."""
    if text in ("", "@"):
        return zone
    return dns.name.from_text(text, origin=zone)


def host_text(name: dns.name.Name, *, trailing_dot: bool) -> str:
    """A target host (MX exchange, SRV target, CNAME) in the API's form, always absolute."""
    return name.to_text(omit_final_dot=not trailing_dot)


def target_name(text: str) -> dns.name.Name:
    """An absolute target from an API's host text, with or without the trailing dot."""
    return owner_from_fqdn(text)


# --- MX, SRV, CAA -----------------------------------------------------------------------------


def mx_fields(rdata: dns.rdata.Rdata) -> tuple[int, dns.name.Name]:
    """MX as (priority, exchange)."""
    assert isinstance(rdata, dns.rdtypes.ANY.MX.MX)
    return rdata.preference, rdata.exchange


def mx_rdata(priority: int, exchange: str) -> dns.rdata.Rdata:
    rdata: dns.rdata.Rdata = _MX(
        dns.rdataclass.IN, dns.rdatatype.MX, priority, target_name(exchange)
    )
    return rdata


@dataclass(frozen=True)
class SrvFields:
    priority: int
    weight: int
    port: int
    target: dns.name.Name


def srv_fields(rdata: dns.rdata.Rdata) -> SrvFields:
    assert isinstance(rdata, dns.rdtypes.IN.SRV.SRV)
    return SrvFields(rdata.priority, rdata.weight, rdata.port, rdata.target)


def srv_rdata(priority: int, weight: int, port: int, target: str) -> dns.rdata.Rdata:
    rdata: dns.rdata.Rdata = _SRV(
        dns.rdataclass.IN, dns.rdatatype.SRV, priority, weight, port, target_name(target)
    )
    return rdata


@dataclass(frozen=True)
class CaaFields:
    flags: int
    tag: str
    value: str


def caa_fields(rdata: dns.rdata.Rdata) -> CaaFields:
    assert isinstance(rdata, dns.rdtypes.ANY.CAA.CAA)
    return CaaFields(
        rdata.flags, rdata.tag.decode("ascii"), rdata.value.decode("utf-8", "surrogateescape")
    )


def caa_rdata(flags: int, tag: str, value: str) -> dns.rdata.Rdata:
    rdata: dns.rdata.Rdata = _CAA(
        dns.rdataclass.IN,
        dns.rdatatype.CAA,
        flags,
        tag.encode("ascii"),
        value.encode("utf-8", "surrogateescape"),
    )
    return rdata


# --- TXT --------------------------------------------------------------------------------------


def txt_joined(rdata: dns.rdata.Rdata) -> str:
    """TXT as one string: its character-strings joined (for APIs that split on their own)."""
    assert isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)
    return b"".join(rdata.strings).decode("utf-8", "surrogateescape")


def txt_from_joined(text: str) -> dns.rdata.Rdata:
    """TXT from one string, split into 255-byte character-strings."""
    data = text.encode("utf-8", "surrogateescape")
    strings = (
        tuple(data[i : i + MAX_STRING] for i in range(0, len(data), MAX_STRING))
        if data
        else split_text("")
    )
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)


def txt_quoted(rdata: dns.rdata.Rdata) -> str:
    """TXT as zone-file text: each character-string quoted, at most 255 bytes, escaped.

    A string over 255 bytes cannot exist in rdata, so the pieces are the record's own; a
    value made by :func:`txt_from_joined` is already in 255-byte pieces.
    """
    assert isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)
    return rdata.to_text()


def txt_from_quoted(text: str) -> dns.rdata.Rdata:
    """TXT from zone-file text (``"a" "b"``); raises ``ValueError`` when it does not parse."""
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text)
    except dns.exception.DNSException as exc:
        raise ValueError(f"TXT value {text[:80]!r} is not valid quoted text: {exc}") from None


# --- any type ---------------------------------------------------------------------------------


def rdata_from_text(rdtype: dns.rdatatype.RdataType, text: str) -> dns.rdata.Rdata:
    """Rdata of any type from zone-file text whose names are absolute (a dot is added to a bare
    single target, as APIs leave it off); raises ``ValueError``."""
    try:
        return dns.rdata.from_text(
            dns.rdataclass.IN, rdtype, text, origin=dns.name.root, relativize=False
        )
    except dns.exception.DNSException as exc:
        raise ValueError(
            f"{dns.rdatatype.to_text(rdtype)} value {text[:80]!r} does not parse: {exc}"
        ) from None
