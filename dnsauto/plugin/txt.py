"""TXT values as dnspython rdata: long text split into 255-byte character-strings.

A TXT record holds one or more character-strings of at most 255 bytes each (RFC 1035 §3.3.14);
a value that is longer, such as an RSA-2048 DKIM key, is split into several strings that a
reader joins back together (RFC 6376 §3.6.2.2, RFC 7208 §3.3). The text is UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterable

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from dnsauto.plugin.names import to_name

__all__ = ["MAX_STRING", "split_text", "txt_rdata", "txt_rrset", "txt_text"]

MAX_STRING = 255
"""The most bytes one TXT character-string can hold."""


def split_text(text: str) -> tuple[bytes, ...]:
    """The UTF-8 bytes of ``text`` in 255-byte pieces (one empty piece for empty text)."""
    data = text.encode("utf-8")
    if not data:
        return (b"",)
    return tuple(data[i : i + MAX_STRING] for i in range(0, len(data), MAX_STRING))


def txt_rdata(text: str) -> dns.rdtypes.ANY.TXT.TXT:
    """One TXT record holding ``text``, split into 255-byte character-strings."""
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, split_text(text))


def txt_text(rdata: dns.rdtypes.ANY.TXT.TXT) -> str:
    """The text of a TXT record: its character-strings joined, read as UTF-8.

    :raises ValueError: the strings joined are not valid UTF-8.
    """
    data = b"".join(rdata.strings)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"TXT record {rdata.to_text()} is not UTF-8 text: {exc}") from None


def txt_rrset(name: dns.name.Name | str, ttl: int, texts: Iterable[str]) -> dns.rrset.RRset:
    """A TXT RRset at ``name`` with one record per text."""
    return dns.rrset.from_rdata_list(to_name(name), ttl, [txt_rdata(t) for t in texts])
