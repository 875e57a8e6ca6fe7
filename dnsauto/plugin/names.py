"""Domain-name checks and conversions at the configuration edge."""

from __future__ import annotations

import functools
import re
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import dns.exception
import dns.name
import idna
from pydantic import AfterValidator

from dnsauto.plugin.types import quoted

__all__ = [
    "HostName",
    "HttpsUri",
    "ReportUri",
    "canonical_order",
    "check_hostname",
    "check_https_uri",
    "check_report_uri",
    "lookup_key",
    "to_name",
]


_LDH_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_LDH_NAME = re.compile(rf"(?:{_LDH_LABEL}\.)+{_LDH_LABEL}\.?")
"""Two or more letter-digit-hyphen labels (RFC 952/1123) in lower case, maybe a final dot."""


@functools.lru_cache(maxsize=1 << 16)
def check_hostname(value: str) -> str:
    """The canonical form of a host or domain name, or ``ValueError``.

    IDNA 2008 with UTS #46 mapping, so every spelling of one name (upper case, a trailing dot,
    fullwidth letters, ignorable code points such as U+200B) gives the same text: the A-label
    form, lower case, without a trailing dot. Code points IDNA disallows are refused.

    Cached: the configuration is checked whole at each API ``/set``, and IDNA costs some
    50 us a name, seconds for 16,000 domains checked three times each. A name of plain
    letters, digits and hyphens needs none of IDNA's mapping or checks (it is its own
    A-label, once in lower case) and is checked without it: a third of loading the
    configuration of 20,000 such domains was IDNA's.
    """
    text = value.strip()
    if not text.rstrip("."):
        raise ValueError("must be a domain name")
    if text.isascii():
        plain = text.lower()
        name = plain.removesuffix(".")
        if (
            _LDH_NAME.fullmatch(plain)
            and len(name) <= 253
            and not any(label[2:4] == "--" for label in name.split("."))
        ):
            return name
    return _idna_hostname(value, text)


def _idna_hostname(value: str, text: str) -> str:
    try:
        ascii_name = idna.encode(text, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{quoted(value)} is not a valid domain name: {exc}") from None
    ascii_name = ascii_name.removesuffix(".")
    try:
        name = dns.name.from_text(ascii_name)
    except dns.exception.DNSException as exc:
        raise ValueError(f"{quoted(value)} is not a valid domain name: {exc}") from None
    if len(name.labels) < 3:
        raise ValueError(f"{quoted(value)} must have at least two labels, e.g. example.org")
    return ascii_name


def lookup_key(value: str) -> str:
    """The name to look a domain up by: its canonical form, or (not a valid name, so never
    found) the text as given, lower case without a trailing dot."""
    try:
        return check_hostname(value)
    except ValueError:
        return value.rstrip(".").lower()


HostName = Annotated[str, AfterValidator(check_hostname)]
"""A host or domain name in the configuration, kept in its canonical form."""

_URI_LIMIT = 2048
_LOCAL_PART = re.compile(r"[A-Za-z0-9_%+=-]+(?:\.[A-Za-z0-9_%+=-]+)*")
# What may follow the host of an https: URI: no ';', ',', '!' or white space, which would
# end the URI inside a DMARC or TLS-RPT record and start a tag of the caller's choosing.
_URI_REST = re.compile(r"[A-Za-z0-9\-._~/?#@&=+:%]*")


def check_report_uri(value: str) -> str:
    """A report address: ``mailto:`` with a valid address (the domain may be left out, as
    Stalwart then appends the domain's own) or an ``https:`` URI; raises ``ValueError``."""
    scheme, colon, rest = value.partition(":")
    if colon and scheme.lower() == "mailto":
        return "mailto:" + _mail_address(value, rest)
    if colon and scheme.lower() == "https":
        return check_https_uri(value)
    raise ValueError(f"{quoted(value)} must be a mailto: address or an https: URI")


def _mail_address(value: str, address: str) -> str:
    local, at, domain = address.rpartition("@") if "@" in address else (address, "", "")
    if not _LOCAL_PART.fullmatch(local):
        raise ValueError(f"{quoted(value)} is not a valid mailto: address")
    if not at:
        return local
    try:
        return f"{local}@{check_hostname(domain)}"
    except ValueError as exc:
        raise ValueError(f"{quoted(value)} is not a valid mailto: address: {exc}") from None


def check_https_uri(value: str) -> str:
    """An ``https:`` URI with a valid host name (canonical) and no separator characters."""
    if len(value) > _URI_LIMIT:
        raise ValueError(f"{quoted(value)} is longer than {_URI_LIMIT} characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"{quoted(value)} is not a valid https: URI") from None
    if parts.scheme.lower() != "https" or not parts.hostname or "@" in parts.netloc:
        raise ValueError(f"{quoted(value)} must be an https: URI with a host name")
    rest = urlunsplit(("", "", parts.path, parts.query, parts.fragment))
    if not _URI_REST.fullmatch(rest):
        raise ValueError(f"{quoted(value)} holds characters an https: URI may not have here")
    try:
        host = check_hostname(parts.hostname)
    except ValueError as exc:
        raise ValueError(f"{quoted(value)} is not a valid https: URI: {exc}") from None
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit(("https", netloc, parts.path, parts.query, parts.fragment))


ReportUri = Annotated[str, AfterValidator(check_report_uri)]
"""Where DMARC and TLS-RPT reports go (also the CAA ``iodef``)."""

HttpsUri = Annotated[str, AfterValidator(check_https_uri)]
"""An ``https:`` URI, such as the ACME account bound into CAA records."""


def canonical_order(name: dns.name.Name) -> tuple[bytes, ...]:
    """A sort key that orders names as dnspython compares them (DNSSEC's canonical order:
    labels from the root, case-insensitively), at a tenth of the cost of its comparisons; as a
    set or dict key it matches names as their equality does, without hashing a ``Name``
    (dnspython's hash goes a character at a time). A name's ancestors are its key's prefixes."""
    return tuple(label.lower() for label in reversed(name.labels))


def to_name(value: str | dns.name.Name) -> dns.name.Name:
    """An absolute dnspython name from text (relative text is taken as absolute)."""
    if isinstance(value, dns.name.Name):
        return value if value.is_absolute() else value.concatenate(dns.name.root)
    return _absolute(value.rstrip(".") + ".")


@functools.lru_cache(maxsize=4096)
def _absolute(text: str) -> dns.name.Name:
    # Names are immutable and parsing is slow next to a lookup; a sync of many domains parses
    # the same targets (the mail host) and apexes again and again.
    if text.isascii() and "\\" not in text and text not in (".", "@."):
        # Plain ASCII labels, no escapes: the labels are the text between the dots, and
        # Name() checks them as from_text does (empty and long labels, long names), at a
        # third of its cost (most of a domain's desired names are this and unique).
        return dns.name.Name([label.encode("ascii") for label in text.split(".")])
    return dns.name.from_text(text)
