"""Object ids as JMAP has them (RFC 8620 §1.2: 1–255 octets of ``[A-Za-z0-9_-]``).

A Domain's id is opaque, as in Stalwart: a u64 written the way Stalwart writes its ids
(``types::id::Id::as_string``: base 32, most significant digit first, alphabet
``abcdefghijklmnopqrstuvwxyz792013``). The u64 is the first 8 bytes of SHA-256 over the domain's
name, so the id is the same in every process and after every restart and reload, with nothing
to keep: a Domain's name cannot change (an update that renames one is refused), so neither can
its id. A domain destroyed and created again gets its id back: it names the same records, DKIM
keys and journal, which are kept by name. A DnsServer's id is its ``[dnsServer.<id>]`` table
name (or the one the API gave it) and must be an Id as it is.
"""

from __future__ import annotations

import functools
import re

__all__ = ["ID_PATTERN", "STALWART_ALPHABET", "domain_id", "id_problem", "is_id", "stalwart_id"]

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")
STALWART_ALPHABET = "abcdefghijklmnopqrstuvwxyz792013"
_DOMAIN_SALT = b"dnsauto Domain id\x00"


def is_id(value: object) -> bool:
    """Whether ``value`` is a JMAP Id."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a JMAP Id (None when it is one)."""
    if is_id(value):
        return None
    if not value:
        return "an id cannot be empty"
    if len(value.encode()) > 255:
        return "an id has at most 255 characters"
    return "an id has only the characters A-Z, a-z, 0-9, '-' and '_' (RFC 8620 §1.2)"


def stalwart_id(number: int) -> str:
    """``number`` (a u64) as Stalwart writes an id: 0 is ``a``, 20080258862541 ``singleton``."""
    if not 0 <= number < 1 << 64:
        raise ValueError(f"{number} is not a u64")
    digits = []
    while True:
        number, digit = divmod(number, 32)
        digits.append(STALWART_ALPHABET[digit])
        if not number:
            return "".join(reversed(digits))


@functools.lru_cache(maxsize=65536)
def domain_id(name: str) -> str:
    """The API id of the Domain named ``name`` (any spelling of the name gives the same)."""
    canonical = name.strip().rstrip(".").lower()
    import hashlib  # here: OpenSSL's load is a twentieth of --help

    digest = hashlib.sha256(_DOMAIN_SALT + canonical.encode()).digest()
    return stalwart_id(int.from_bytes(digest[:8], "big"))
