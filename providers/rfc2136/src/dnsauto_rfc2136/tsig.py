"""TSIG (RFC 8945) on wire-format messages: sign requests, check the answers.

dnspython signs with TSIG too, but not in a way that works for the truncated algorithms: it
puts its own names (``hmac-sha256-128.``) on the wire, which BIND 9.18, Knot 3.2 and PowerDNS
4.7 all answer with BADKEY. BIND's tools send the base name with a shortened MAC
(``hmac-sha256`` and 16 bytes), which only BIND accepts: Knot answers BADSIG, PowerDNS an
unsigned REFUSED (measured; see the README). A truncated algorithm is therefore sent as its
base name with the *full* MAC, which all three accept (BIND also for a key it holds as
truncated); answers may carry a MAC cut to the truncated length.

This module also takes the signing time from the caller, so a skewed clock can be tested, and
checks multi-message (AXFR) answers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.wire

from dnsauto_rfc2136.wire import TsigRecord, rcode, read_tsig

__all__ = [
    "ALGORITHMS",
    "DEFAULT_FUDGE",
    "TsigAlgorithmSpec",
    "TsigCheck",
    "TsigFailure",
    "TsigKey",
    "TsigVerifier",
]

DEFAULT_FUDGE = 300
"""Seconds of clock difference the server may accept (RFC 8945 recommends 300)."""


@dataclass(frozen=True)
class TsigAlgorithmSpec:
    """How one ``tsigAlgorithm`` value is put on the wire."""

    wire_name: dns.name.Name
    digest: Callable[[], object]
    digest_size: int
    min_mac_size: int
    """The shortest MAC accepted in an answer: the truncated length, or the full digest."""
    sent_mac_size: int = 0
    """Bytes of MAC to send, if fewer than the digest (only to show what servers do with it)."""

    @property
    def truncated(self) -> bool:
        return self.min_mac_size < self.digest_size


def _spec(
    wire_name: str, digest: Callable[[], object], size: int, mac_bits: int = 0
) -> TsigAlgorithmSpec:
    return TsigAlgorithmSpec(dns.name.from_text(wire_name), digest, size, (mac_bits // 8) or size)


ALGORITHMS: dict[str, TsigAlgorithmSpec] = {
    # dnspython's spelling; "hmac-md5." is not what servers expect (RFC 8945 table 1).
    "hmac-md5": _spec("HMAC-MD5.SIG-ALG.REG.INT.", hashlib.md5, 16),
    "hmac-sha1": _spec("hmac-sha1.", hashlib.sha1, 20),
    "hmac-sha224": _spec("hmac-sha224.", hashlib.sha224, 28),
    "hmac-sha256": _spec("hmac-sha256.", hashlib.sha256, 32),
    "hmac-sha256-128": _spec("hmac-sha256.", hashlib.sha256, 32, 128),
    "hmac-sha384": _spec("hmac-sha384.", hashlib.sha384, 48),
    "hmac-sha384-192": _spec("hmac-sha384.", hashlib.sha384, 48, 192),
    "hmac-sha512": _spec("hmac-sha512.", hashlib.sha512, 64),
    "hmac-sha512-256": _spec("hmac-sha512.", hashlib.sha512, 64, 256),
}
"""Every HMAC ``tsigAlgorithm``; truncated ones go out under their base name."""

_TIME = struct.Struct("!HIH")


def _time_and_fudge(time_signed: int, fudge: int) -> bytes:
    return _TIME.pack((time_signed >> 32) & 0xFFFF, time_signed & 0xFFFFFFFF, fudge)


def _wire(name: dns.name.Name) -> bytes:
    wire = name.to_wire()
    assert wire is not None
    return wire


class TsigFailure(Exception):
    """The answer's TSIG did not check out on our side."""

    def __init__(self, reason: str, *, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        """``badsig``, ``badtime``, ``badkey``, ``unsigned`` or ``malformed``."""

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key: its name, secret and algorithm (a ``tsigAlgorithm`` value)."""

    name: dns.name.Name
    secret: bytes = field(repr=False)
    algorithm: str
    fudge: int = DEFAULT_FUDGE

    @property
    def spec(self) -> TsigAlgorithmSpec:
        return ALGORITHMS[self.algorithm]

    def describe(self) -> str:
        return self._description

    @functools.cached_property
    def _description(self) -> str:
        # Made once: every operation's failure context names the key (its names as text).
        text = f"TSIG key {self.name.to_text()} ({self.algorithm}"
        if self.spec.truncated:
            text += (
                f", sent as {self.spec.wire_name.to_text()} with the full "
                f"{self.spec.digest_size}-byte MAC"
            )
        return text + ")"

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self.secret, data, self.spec.digest).digest()  # type: ignore[arg-type]

    @functools.cached_property
    def _names(self) -> bytes:
        """The first TSIG variables (key name, class, TTL, algorithm): the same every time."""
        return (
            self.name.to_digestable()
            + struct.pack("!HI", dns.rdataclass.ANY, 0)
            + self.spec.wire_name.to_digestable()
        )

    @functools.cached_property
    def _names_lowered(self) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        """The key's name and its algorithm's, as lower-case labels (an answer's are compared
        with them)."""
        return _lowered(self.name.labels), _lowered(self.spec.wire_name.labels)

    @functools.cached_property
    def _owner_wire(self) -> bytes:
        return _wire(self.name)

    @functools.cached_property
    def _algorithm_wire(self) -> bytes:
        return _wire(self.spec.wire_name)

    def _variables(self, time_signed: int, fudge: int, error: int, other: bytes) -> bytes:
        return (
            self._names
            + _time_and_fudge(time_signed, fudge)
            + struct.pack("!HH", error, len(other))
            + other
        )

    def sign(self, wire: bytes, now: int) -> tuple[bytes, bytes]:
        """``wire`` with a TSIG record appended, and the MAC (for checking the answer)."""
        if len(wire) < 12:
            raise ValueError("not a DNS message")
        (original_id,) = struct.unpack("!H", wire[:2])
        mac = self._mac(wire + self._variables(now, self.fudge, 0, b""))
        mac = mac[: self.spec.sent_mac_size or None]
        rdata = (
            self._algorithm_wire
            + _time_and_fudge(now, self.fudge)
            + struct.pack("!H", len(mac))
            + mac
            + struct.pack("!HHH", original_id, 0, 0)
        )
        record = (
            self._owner_wire
            + struct.pack("!HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(rdata))
            + rdata
        )
        (arcount,) = struct.unpack("!H", wire[10:12])
        signed = wire[:10] + struct.pack("!H", arcount + 1) + wire[12:] + record
        return signed, mac

    def verifier(self, request_mac: bytes, clock: Callable[[], float]) -> TsigVerifier:
        return TsigVerifier(self, request_mac, clock)


@dataclass(frozen=True)
class TsigCheck:
    """What the TSIG of one answer said."""

    signed: bool
    """The answer carried a TSIG that verified (or, with ``error`` set, any TSIG)."""
    error: int = 0
    """The TSIG error the server reported (BADSIG, BADKEY, BADTIME, BADTRUNC), or 0."""
    server_time: int | None = None
    """The server's clock, from a BADTIME answer's other data or the signing time."""


def _tsig_of(wire: bytes) -> TsigRecord | None:
    """The answer's TSIG; None without one. :class:`TsigFailure` for a TSIG that is not the
    last record or cannot be read."""
    try:
        return read_tsig(wire)
    except ValueError as exc:
        raise TsigFailure(f"the answer's TSIG cannot be read: {exc}", kind="malformed") from None


def _lowered(labels: tuple[bytes, ...]) -> tuple[bytes, ...]:
    return tuple(label.lower() for label in labels)


class TsigVerifier:
    """Checks the answer(s) to one signed request; several for a zone transfer."""

    def __init__(self, key: TsigKey, request_mac: bytes, clock: Callable[[], float]) -> None:
        self.key = key
        self._prior_mac = request_mac
        self._first = True
        self._unsigned: list[bytes] = []
        self._clock = clock

    def check(self, wire: bytes, *, multi: bool = False) -> TsigCheck:
        """Verify the answer ``wire`` (read from the wire itself: no parsed message needed).

        Returns what the TSIG said. An unsigned answer is accepted only when it reports an
        error (servers answer BADKEY and BADSIG unsigned) or, within a zone transfer, between
        signed ones. Raises :class:`TsigFailure` when the answer's MAC, key or time is wrong.
        """
        found = _tsig_of(wire)
        if found is None:
            if multi and not self._first:
                self._unsigned.append(wire)
                return TsigCheck(signed=False)
            if rcode(wire) != dns.rcode.NOERROR:
                return TsigCheck(signed=False)
            raise TsigFailure(
                f"the answer is not signed, although the request was signed with "
                f"{self.key.describe()}",
                kind="unsigned",
            )
        rdata = found
        if rdata.error:
            server_time = rdata.time_signed
            if rdata.error == dns.rcode.BADTIME and len(rdata.other) == 6:
                high, low = struct.unpack("!HI", rdata.other)
                server_time = (high << 32) | low
            return TsigCheck(signed=False, error=rdata.error, server_time=server_time)
        key_name, algorithm = self.key._names_lowered
        if _lowered(rdata.owner) != key_name:
            raise TsigFailure(
                f"the answer is signed with key {dns.name.Name(rdata.owner)}, not {self.key.name}",
                kind="badkey",
            )
        if _lowered(rdata.algorithm) != algorithm:
            raise TsigFailure(
                f"the answer is signed with algorithm {dns.name.Name(rdata.algorithm)}, not "
                f"{self.key.spec.wire_name}",
                kind="badkey",
            )
        (arcount,) = struct.unpack("!H", wire[10:12])
        unsigned = struct.pack("!H", rdata.original_id) + wire[2:10]
        unsigned += struct.pack("!H", arcount - 1) + wire[12 : rdata.start]
        prior = (
            struct.pack("!H", len(self._prior_mac)) + self._prior_mac if self._prior_mac else b""
        )
        if self._first:
            data = (
                prior
                + unsigned
                + self.key._variables(rdata.time_signed, rdata.fudge, 0, rdata.other)
            )
        else:
            data = prior + b"".join(self._unsigned) + unsigned
            data += _time_and_fudge(rdata.time_signed, rdata.fudge)
        full = self.key._mac(data)
        mac = bytes(rdata.mac)
        shortest = max(10, len(full) // 2, self.key.spec.min_mac_size)
        if not shortest <= len(mac) <= len(full):
            raise TsigFailure(
                f"the answer's MAC is {len(mac)} bytes; {self.key.describe()} needs at least "
                f"{shortest}",
                kind="badsig",
            )
        if not hmac.compare_digest(full[: len(mac)], mac):
            raise TsigFailure(
                f"the answer's signature does not verify with {self.key.describe()}: the "
                "server's secret for this key name differs from ours",
                kind="badsig",
            )
        now = int(self._clock())
        if abs(rdata.time_signed - now) > rdata.fudge:
            raise TsigFailure(
                f"the answer was signed at {rdata.time_signed}, {rdata.time_signed - now:+d} s "
                f"from our clock, more than the {rdata.fudge} s allowed",
                kind="badtime",
            )
        self._prior_mac = mac
        self._first = False
        self._unsigned = []
        return TsigCheck(signed=True, server_time=rdata.time_signed)
