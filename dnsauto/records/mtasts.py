"""The MTA-STS policy id Stalwart publishes when none is configured.

Stalwart (``Policy::try_parse`` and ``Policy::hash`` in
``crates/common/src/config/smtp/resolver.rs``) sorts the MX host strings, removes duplicates,
maps ``*.d`` to ``MxPattern::StartsWith("d")`` and any other host to ``MxPattern::Equals(host)``,
then feeds ``mode``, ``max_age`` and ``mx`` into Rust's
``std::collections::hash_map::DefaultHasher``
(SipHash-1-3, keys 0 and 0) and prints the ``u64`` in decimal. Derived ``Hash`` writes an enum's
discriminant as an ``isize`` (8 bytes little-endian on 64-bit), a ``u64`` as its 8 bytes, a slice
its length as a ``usize`` first, a ``String`` its UTF-8 bytes then ``0xff``.
tests/vectors/mta_sts_policy_id.rs does the same in Rust with Stalwart's types; the test's
expected ids are what rustc's ``DefaultHasher`` printed for it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from dnsauto.config.mailserver import MtaStsMode

__all__ = ["mta_sts_policy_id", "siphash13"]

_MASK = 0xFFFFFFFFFFFFFFFF
# Stalwart's ``Mode`` enum lists its variants in MtaStsMode's order: these are its discriminants.
_MODE_DISCRIMINANT = {mode: index for index, mode in enumerate(MtaStsMode)}


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK


def _round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & _MASK
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & _MASK
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & _MASK
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash13(data: bytes, k0: int = 0, k1: int = 0) -> int:
    """SipHash-1-3 of ``data`` (one compression round, three finalization rounds)."""
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    whole = len(data) - len(data) % 8
    for (m,) in struct.iter_unpack("<Q", data[:whole]):
        v3 ^= m
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
        v0 ^= m
    last = int.from_bytes(data[whole:], "little") | ((len(data) & 0xFF) << 56)
    v3 ^= last
    v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    v0 ^= last
    v2 ^= 0xFF
    for _ in range(3):
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def _rust_str(text: str) -> bytes:
    return text.encode("utf-8") + b"\xff"


def _rust_usize(value: int) -> bytes:
    return struct.pack("<Q", value)


def _pattern(host: str) -> tuple[int, str]:
    """(``MxPattern`` discriminant, its string): ``*.d`` is ``StartsWith("d")``."""
    if host.startswith("*."):
        return 1, host[2:]
    return 0, host


def mta_sts_policy_id(mode: MtaStsMode | str, max_age_seconds: int, mx: Iterable[str]) -> str:
    """Stalwart's id for the policy (mode, max_age, MX host patterns) as a decimal ``u64``."""
    hosts = sorted(set(mx), key=lambda host: host.encode())
    stream = bytearray(_rust_usize(_MODE_DISCRIMINANT[MtaStsMode(mode)]))
    stream += struct.pack("<Q", max_age_seconds)
    stream += _rust_usize(len(hosts))
    for discriminant, value in map(_pattern, hosts):
        stream += _rust_usize(discriminant) + _rust_str(value)
    return str(siphash13(bytes(stream)))
