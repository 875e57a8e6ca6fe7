"""Domain-name checks and conversions at the configuration edge."""

from __future__ import annotations

import functools

import dns.exception
import dns.name

__all__ = ["check_hostname", "to_name"]


@functools.lru_cache(maxsize=4096)
def check_hostname(value: str) -> str:
    """Normalise a host or domain name (lower case, no trailing dot) or raise ``ValueError``."""
    text = value.strip().rstrip(".").lower()
    if not text:
        raise ValueError("must be a domain name")
    try:
        name = dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise ValueError(f"{value!r} is not a valid domain name: {exc}") from None
    for label in name.labels[:-1]:
        if not label or not all(c in b"abcdefghijklmnopqrstuvwxyz0123456789-_" for c in label):
            raise ValueError(f"{value!r} is not a valid host name")
    if len(name.labels) < 3:
        raise ValueError(f"{value!r} must have at least two labels, e.g. example.org")
    return text


def to_name(value: str | dns.name.Name) -> dns.name.Name:
    """An absolute dnspython name from text (relative text is taken as absolute)."""
    if isinstance(value, dns.name.Name):
        return value if value.is_absolute() else value.concatenate(dns.name.root)
    return _absolute(value.rstrip(".") + ".")


@functools.lru_cache(maxsize=4096)
def _absolute(text: str) -> dns.name.Name:
    # Names are immutable and parsing is slow next to a lookup; a sync of many domains parses
    # the same targets (the mail host) and apexes again and again.
    return dns.name.from_text(text)
