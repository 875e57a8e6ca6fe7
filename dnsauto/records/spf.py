"""SPF records (RFC 7208): parse into terms, merge required mechanisms, count DNS lookups.

The apex TXT of a mail domain is shared: its SPF record often carries someone else's
``include:`` mechanisms. :func:`merge_spf` adds what dnsauto needs (``mx``) to the record that is
there and leaves everything else as it found it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "LOOKUP_LIMIT",
    "SpfTerm",
    "count_dns_lookups",
    "is_spf",
    "merge_spf",
    "parse_spf",
    "parse_term",
]

VERSION = "v=spf1"
LOOKUP_LIMIT = 10
"""RFC 7208 §4.6.4: more DNS-querying terms than this make the record a permerror."""

_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
_QUALIFIERS = "+-~?"
_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
_DUAL_CIDR = re.compile(r"^(?:/(\d{1,2}))?(?://(\d{1,3}))?$")


@dataclass(frozen=True)
class SpfTerm:
    """One term of an SPF record: a directive (``-mx``, ``include:x``) or a modifier (``a=b``).

    ``name`` is lower case; ``argument`` is what follows the name, separator included (``":x"``,
    ``"/24"``, ``"=x"``), as written.
    """

    text: str
    name: str
    argument: str
    qualifier: str = ""
    is_modifier: bool = False

    @property
    def identity(self) -> tuple[bool, str, str]:
        """What the term matches, without its qualifier: two terms with it equal are the same."""
        return (self.is_modifier, self.name, self.argument.lower())

    @property
    def is_all(self) -> bool:
        return not self.is_modifier and self.name == "all"

    @property
    def is_redirect(self) -> bool:
        return self.is_modifier and self.name == "redirect"

    @property
    def needs_lookup(self) -> bool:
        """Whether evaluating the term queries DNS (RFC 7208 §4.6.4)."""
        if self.is_modifier:
            return self.name == "redirect"
        return self.name in _LOOKUP_MECHANISMS

    def __str__(self) -> str:
        return self.text


def is_spf(text: str) -> bool:
    """Whether a TXT value is an SPF record: ``v=spf1`` then a space or the end (RFC 7208 §4.5)."""
    head = text.strip()[: len(VERSION) + 1].lower()
    return head == VERSION or head == VERSION + " "


def parse_term(text: str) -> SpfTerm:
    """Parse one SPF term.

    :raises ValueError: the term is not a known mechanism with a valid argument or a modifier.
    """
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"SPF term {text!r} is empty or contains white space")
    modifier = _MODIFIER.match(text)
    if modifier:
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp") and not value:
            raise ValueError(f"SPF modifier {text!r} needs a domain")
        return SpfTerm(text=text, name=name, argument="=" + value, is_modifier=True)
    qualifier = text[0] if text[0] in _QUALIFIERS else ""
    body = text[len(qualifier) :]
    split = min((i for i in (body.find(":"), body.find("/")) if i >= 0), default=len(body))
    name, argument = body[:split].lower(), body[split:]
    if name not in _MECHANISMS:
        raise ValueError(f"unknown SPF mechanism {text!r}")
    _check_argument(text, name, argument)
    return SpfTerm(text=text, name=name, argument=argument, qualifier=qualifier)


def _check_argument(text: str, name: str, argument: str) -> None:
    if name == "all":
        if argument:
            raise ValueError(f"SPF mechanism {text!r}: 'all' takes no argument")
        return
    if name in ("include", "exists"):
        if not argument.startswith(":") or len(argument) < 2 or "/" in argument:
            raise ValueError(f"SPF mechanism {text!r} needs ':domain'")
        return
    if name == "ptr":
        if argument and (not argument.startswith(":") or len(argument) < 2 or "/" in argument):
            raise ValueError(f"SPF mechanism {text!r}: expected 'ptr' or 'ptr:domain'")
        return
    if name in ("ip4", "ip6"):
        _check_network(text, name, argument)
        return
    # a and mx: [":" domain] [ "/" ip4-cidr ] [ "//" ip6-cidr ]
    domain, cidr = argument, ""
    if "/" in argument:
        cut = argument.index("/")
        domain, cidr = argument[:cut], argument[cut:]
    if domain and (not domain.startswith(":") or len(domain) < 2):
        raise ValueError(f"SPF mechanism {text!r}: expected '{name}:domain'")
    cidrs = _DUAL_CIDR.match(cidr)
    if (
        not cidrs
        or (cidrs.group(1) is not None and int(cidrs.group(1)) > 32)
        or (cidrs.group(2) is not None and int(cidrs.group(2)) > 128)
    ):
        raise ValueError(f"SPF mechanism {text!r} has an invalid CIDR length")


def _check_network(text: str, name: str, argument: str) -> None:
    if not argument.startswith(":"):
        raise ValueError(f"SPF mechanism {text!r} needs ':address'")
    address, _, prefix = argument[1:].partition("/")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"SPF mechanism {text!r}: {address!r} is not an IP address") from None
    expected, bits = (4, 32) if name == "ip4" else (6, 128)
    if ip.version != expected:
        raise ValueError(f"SPF mechanism {text!r}: {address!r} is not an IPv{expected} address")
    if "/" in argument and not (prefix.isdigit() and int(prefix) <= bits):
        raise ValueError(f"SPF mechanism {text!r} has an invalid prefix length")


def parse_spf(text: str) -> list[SpfTerm]:
    """The terms of one SPF record, in order, without the ``v=spf1`` version.

    :raises ValueError: the text is not an SPF record, a term is malformed, or ``redirect=`` or
        ``exp=`` appears twice (RFC 7208 §6).
    """
    records = _split_records(text)
    if len(records) != 1:
        raise ValueError(f"expected one SPF record, found {len(records)} in {text!r}")
    return records[0]


def _split_records(text: str) -> list[list[SpfTerm]]:
    """Every SPF record in ``text``: each ``v=spf1`` token starts a new one."""
    tokens = text.split()
    if not tokens or tokens[0].lower() != VERSION:
        raise ValueError(f"not an SPF record (it must start with {VERSION!r}): {text!r}")
    records: list[list[SpfTerm]] = []
    for token in tokens:
        if token.lower() == VERSION:
            records.append([])
            continue
        records[-1].append(parse_term(token))
    for terms in records:
        for unique in ("redirect", "exp"):
            if sum(1 for t in terms if t.is_modifier and t.name == unique) > 1:
                raise ValueError(f"SPF record has more than one '{unique}=' modifier: {text!r}")
    return records


def _terminator(terms: Sequence[SpfTerm]) -> int:
    """Where new mechanisms go: before the first ``all``, else before ``redirect=``, else last."""
    for index, term in enumerate(terms):
        if term.is_all:
            return index
    for index, term in enumerate(terms):
        if term.is_redirect:
            return index
    return len(terms)


def _absorb(merged: list[SpfTerm], extra: Sequence[SpfTerm]) -> None:
    """Add the terms of another SPF record to ``merged``, keeping its ``all``/``redirect=``."""
    has_end = any(t.is_all or t.is_redirect for t in merged)
    seen = {t.identity for t in merged}
    for term in extra:
        if term.identity in seen:
            continue
        if term.is_all or term.is_redirect:
            if not has_end:
                merged.append(term)
                has_end = True
            continue
        if term.is_modifier and term.name == "exp" and any(t.name == "exp" for t in merged):
            continue
        merged.insert(_terminator(merged), term)
        seen.add(term.identity)


def merge_spf(existing: str | Sequence[str], required_terms: Sequence[str]) -> str:
    """One SPF record that keeps ``existing`` and holds every term of ``required_terms``.

    * The existing terms stay, in order, with their qualifiers; exact duplicates are dropped.
    * A required mechanism that is missing goes just before the first ``all`` (or before
      ``redirect=`` when there is no ``all``, or at the end). One present with another
      qualifier counts as present: the owner's qualifier wins.
    * A required ``all`` is used only when the record has neither ``all`` nor ``redirect=``;
      otherwise the existing ``all`` and its qualifier are kept.
    * Several SPF records (a list, or several ``v=spf1`` in one text) become one: the first
      record's terms, then the later ones' missing terms, and the first ``all``/``redirect=``.
    * Merging the result again gives the same text.

    ``existing`` may be empty (no SPF record yet).

    :raises ValueError: ``existing`` or a required term is malformed.
    """
    texts = [existing] if isinstance(existing, str) else list(existing)
    records = [r for t in texts if t.strip() for r in _split_records(t)]
    required = [parse_term(t) for t in required_terms]
    merged: list[SpfTerm] = []
    if records:
        seen: set[tuple[bool, str, str]] = set()
        for term in records[0]:
            if term.identity not in seen:
                merged.append(term)
                seen.add(term.identity)
    for terms in records[1:]:
        _absorb(merged, terms)
    _absorb(merged, required)
    return " ".join([VERSION, *(t.text for t in merged)])


def count_dns_lookups(spf: str) -> int:
    """How many terms of an SPF record query DNS (RFC 7208 §4.6.4).

    ``include``, ``a``, ``mx``, ``ptr``, ``exists`` and ``redirect=`` count; ``ip4``, ``ip6``,
    ``all`` and other modifiers do not. Included records are not fetched, so the count is the
    record's own share of the limit of 10 (:data:`LOOKUP_LIMIT`).

    :raises ValueError: the text is not a valid SPF record.
    """
    return sum(1 for t in parse_spf(spf) if t.needs_lookup)
