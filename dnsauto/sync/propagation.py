"""Is a change live? Ask every authoritative nameserver of the zone until all of them agree.

Nameservers are the zone's NS set, resolved through ``daemon.dns.resolvers`` (the system's by
default), each address asked on ``daemon.dns.authoritativePort``; ``authoritativeServers``
replaces discovery. Rounds start every ``pollingInterval`` (measured from the start of the
previous round, so a slow round does not push the next one back); each sends every pending
(server, name, type) question at once, with recursion off and TCP on truncation. A question
leaves the pending set as soon as its server serves exactly the expected RRset (or nothing,
for a deletion), and the wait ends the moment the last one does. A question still unanswered
when the next round starts is not asked twice. A server that times out, refuses, fails or is
not authoritative counts as not propagated and is named in the result.

A proof round is cheap in CPU: the questions in flight to one nameserver share one UDP socket
(answers matched by id, then by question), a question's bytes are written directly, and an
answer is first judged from its wire (``Expectation.met_by_answer``: TXT by its joined
strings, MX, SRV, CNAME, A, ... by their canonical wire form, other types by their rdata);
only an answer that does not meet the expectation is parsed as a message, which decides and
says why. The judgement is the same either way (``tests/test_propagation_wire.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.IN.SRV
import dns.rrset

from dnsauto.config.daemon import DnsSettings, parse_host_port
from dnsauto.plugin.changes import Change, Delete, Update, comparable_value
from dnsauto.plugin.errors import DnsautoError
from dnsauto.sync.by_identity import ByIdentity
from dnsauto.sync.plan import leaves_unchanged

if TYPE_CHECKING:
    import dns.asyncresolver
    import dns.resolver

__all__ = [
    "Expectation",
    "Nameserver",
    "NameserverFinder",
    "PropagationChecker",
    "PropagationResult",
    "expectations_for",
    "reachable",
]

_MAX_IN_FLIGHT = 128
_EDNS_PAYLOAD = 1232
"""The UDP answer size asked for (DNS flag day 2020); larger answers come over TCP."""
_MIN_INTERVAL = 0.01
_UNANSWERED = "no answer yet"

Pair = tuple["Nameserver", "Expectation"]


@dataclass(frozen=True)
class Expectation:
    """What every nameserver must serve at (name, type).

    ``values`` empty means the RRset must be gone (NXDOMAIN or NODATA). With ``exact`` false the
    served RRset must contain the values but may hold others (foreign values at shared names).
    ``ttl``, when set, must match too: a change of the TTL alone is visible in nothing else.
    With ``merged_into`` (see :meth:`shared`) the served RRset is judged as the planner would.
    With ``wanted`` false (see :meth:`without`) none of the values may be served, others may.
    """

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    values: frozenset[str]
    exact: bool = True
    ttl: int | None = None
    merged_into: dns.rrset.RRset | None = field(default=None, compare=False)
    wanted: bool = True
    wires: frozenset[bytes] | None = field(default=None, compare=False, repr=False)
    """The values in canonical wire form, where :meth:`of` had them (see ``_canonical``)."""

    @classmethod
    def of(
        cls, rrset: dns.rrset.RRset, *, exact: bool = True, with_ttl: bool = False
    ) -> Expectation:
        ttl = rrset.ttl if with_ttl else None
        if rrset.rdtype not in _CANONICAL_PREFIX:
            values = frozenset(_desired_value(r) for r in rrset)
            return cls(rrset.name, rrset.rdtype, values, exact, ttl)
        # comparable_value of these types is the text of the canonical wire form: keep both
        wires = frozenset(_desired_wire(r) for r in rrset)
        values = frozenset(_desired_value(r) for r in rrset)
        return cls(rrset.name, rrset.rdtype, values, exact, ttl, wires=wires)

    @classmethod
    def shared(cls, rrset: dns.rrset.RRset) -> Expectation:
        """The desired RRset at a shared name: met when a plan would leave the served RRset
        alone (the managed values present beside foreign ones, an SPF record merged)."""
        values = frozenset(comparable_value(r) for r in rrset)
        return cls(rrset.name, rrset.rdtype, values, exact=False, merged_into=rrset)

    @classmethod
    def absent(cls, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Expectation:
        return cls(name, rdtype, frozenset())

    @classmethod
    def without(cls, rrset: dns.rrset.RRset) -> Expectation:
        """Met when none of ``rrset``'s values is served at its name, whatever else is (a
        value removed from a shared name: an ACME challenge cleaned up beside another)."""
        return replace(cls.of(rrset, exact=False), wanted=False)

    def met_by(self, served: frozenset[str], ttl: int | None = None) -> bool:
        """Whether the values ``served`` (canonical text, see :meth:`of`) are as expected.

        An expectation at a shared name is judged here by its values alone; :meth:`met_by_rrset`
        judges it as the planner would.
        """
        if not self.values:
            return not served
        if not self.wanted:
            return not self.values & served
        if self.ttl is not None and ttl != self.ttl:
            return False
        return served == self.values if self.exact else self.values <= served

    def met_by_rrset(self, served: dns.rrset.RRset | None) -> bool:
        """Whether ``served`` (None for NXDOMAIN or NODATA) is what is expected."""
        if self.merged_into is not None:
            return leaves_unchanged(self.merged_into, served)
        if served is None:
            return self.met_by(frozenset())
        return self.met_by(frozenset(comparable_value(r) for r in served), served.ttl)

    def __str__(self) -> str:
        return f"{self.name} {dns.rdatatype.to_text(self.rdtype)}"

    @cached_property
    def question(self) -> bytes:
        """The question section that asks for (name, type), the name lowercased."""
        name = self.name.to_wire()
        assert name is not None
        return name.lower() + struct.pack("!HH", self.rdtype, dns.rdataclass.IN)

    @cached_property
    def _canonical(self) -> frozenset[bytes] | None:
        """The expected values in canonical wire form (RFC 4034 §6.2) for the types
        :func:`_canonical_rdata` reads; None where their text is compared instead."""
        if self.rdtype not in _CANONICAL_PREFIX:
            return None
        if self.wires is not None:
            return self.wires
        wires = set()
        for value in self.values:
            rdata = dns.rdata.from_text(dns.rdataclass.IN, self.rdtype, value)
            if comparable_value(rdata) != value:  # not the form a value read back has
                return None
            wires.add(rdata.to_digestable())
        return frozenset(wires)

    def met_by_answer(self, wire: bytes, query_id: int) -> bool:
        """Whether the answer ``wire`` to :attr:`question` certainly meets the expectation.

        The judgement of :meth:`met_by_rrset` on the parsed answer, read from the wire without
        building a message, RRsets or (for TXT, MX, SRV, CNAME, ...) rdata objects. False means
        "not certainly": the caller parses the answer in full, which decides and says why.
        """
        if self.merged_into is not None:
            return False
        try:
            found = _answer_records(wire, query_id, self.question)
            if found is None:
                return False
            if not self.values:
                return not found
            if not found:
                return not self.wanted
            if self.ttl is not None and min(t for t, _, _ in found) != self.ttl:
                return False
            return self._values_met(wire, found)
        except (IndexError, ValueError, struct.error, dns.exception.DNSException):
            return False

    def _values_met(self, wire: bytes, found: list[tuple[int, int, int]]) -> bool:
        served: set[Any] = set()
        expected: frozenset[Any] = self.values
        if self.rdtype in _TEXT_TYPES:
            served = {_txt_text(wire, start, end) for _, start, end in found}
        elif (canonical := self._canonical) is not None:
            served = {_canonical_rdata(self.rdtype, wire, start, end) for _, start, end in found}
            expected = canonical
        else:
            for _, start, end in found:
                length = end - start
                rdata = dns.rdata.from_wire(dns.rdataclass.IN, self.rdtype, wire, start, length)
                served.add(comparable_value(rdata))
        if not self.wanted:
            return not expected & served
        return served == expected if self.exact else expected <= served


_TEXT_TYPES = frozenset({dns.rdatatype.TXT, dns.rdatatype.SPF})
_CANONICAL_PREFIX: dict[int, int | None] = {
    # the bytes before the one name that ends the rdata; None: no name, the rdata as it is
    dns.rdatatype.CNAME: 0,
    dns.rdatatype.NS: 0,
    dns.rdatatype.PTR: 0,
    dns.rdatatype.DNAME: 0,
    dns.rdatatype.MX: 2,
    dns.rdatatype.SRV: 6,
    dns.rdatatype.A: None,
    dns.rdatatype.AAAA: None,
    dns.rdatatype.TLSA: None,
    dns.rdatatype.SSHFP: None,
}


def _canonical_wire(rdata: dns.rdata.Rdata) -> bytes:
    """``rdata.to_digestable()`` (its canonical wire form, RFC 4034 §6.2), written directly
    for the types a mail domain publishes with a name in them: dnspython makes a ``Name`` for
    every suffix of the name on the way, most of making a domain's expectations."""
    kind = type(rdata)
    fields: Any = rdata  # dnspython's record classes do not declare their fields' types
    if kind is dns.rdtypes.ANY.MX.MX:
        return _lowered_wire(fields.exchange, struct.pack("!H", fields.preference), rdata)
    if kind is dns.rdtypes.IN.SRV.SRV:
        prefix = struct.pack("!HHH", fields.priority, fields.weight, fields.port)
        return _lowered_wire(fields.target, prefix, rdata)
    if kind in _TARGET_ONLY:
        return _lowered_wire(fields.target, b"", rdata)
    return rdata.to_digestable()


def _lowered_wire(name: dns.name.Name, prefix: bytes, rdata: dns.rdata.Rdata) -> bytes:
    labels = name.labels
    if not labels or labels[-1] != b"":  # relative: as dnspython has it (it raises)
        return rdata.to_digestable()
    return prefix + b"".join(bytes((len(label),)) + label.lower() for label in labels)


_TARGET_ONLY = frozenset(
    {dns.rdtypes.ANY.CNAME.CNAME, dns.rdtypes.ANY.NS.NS, dns.rdtypes.ANY.PTR.PTR}
)
_HEADER = struct.Struct("!HHHHHH")
_RECORD = struct.Struct("!HHIH")
_QR, _OPCODE, _AA, _TC, _RCODE = 0x8000, 0x7800, 0x0400, 0x0200, 0x000F


def _name_at(wire: bytes, offset: int) -> tuple[bytes, int]:
    """The name at ``offset`` (compression followed), lowercased and uncompressed, and the
    offset after it."""
    labels = []
    after = -1
    jumps = 0
    while True:
        length = wire[offset]
        if length >= 0xC0:
            if after < 0:
                after = offset + 2
            jumps += 1
            if jumps > 127:
                raise ValueError("a compression loop")
            offset = ((length & 0x3F) << 8) | wire[offset + 1]
            continue
        if length > 63:
            raise ValueError("a bad label")
        end = offset + length + 1
        if end > len(wire):
            raise ValueError("a name past the end")
        labels.append(wire[offset:end])
        offset = end
        if length == 0:
            break
    name = b"".join(labels).lower()
    if len(name) > 255:
        raise ValueError("a name too long")
    return name, (offset if after < 0 else after)


def _answer_records(
    wire: bytes, query_id: int, question: bytes
) -> list[tuple[int, int, int]] | None:
    """The (TTL, start, end of rdata) of each answer record for ``question`` in a UDP answer
    that answers it authoritatively with NOERROR or NXDOMAIN; None for any other answer."""
    ident, flags, questions, answers, _, _ = _HEADER.unpack_from(wire)
    if ident != query_id or not flags & _QR or flags & (_TC | _OPCODE) or not flags & _AA:
        return None
    if flags & _RCODE not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or questions != 1:
        return None
    qname, typeclass = question[:-4], question[-4:]
    offset = 12 + len(qname)
    if wire[12:offset].lower() != qname or wire[offset : offset + 4] != typeclass:
        return None
    offset += 4
    found = []
    for _ in range(answers):
        if wire[offset] == 0xC0 and wire[offset + 1] == 12:
            matches = True  # a pointer to the question's name
            offset += 2
        else:
            owner, offset = _name_at(wire, offset)
            matches = owner == qname
        start = offset + 10
        end = start + int.from_bytes(wire[offset + 8 : start], "big")
        if end > len(wire) or start > len(wire):
            raise ValueError("a record past the end")
        if matches and wire[offset : offset + 4] == typeclass:
            found.append((int.from_bytes(wire[offset + 4 : offset + 8], "big"), start, end))
        offset = end
    return found


def _txt_text(wire: bytes, start: int, end: int) -> str:
    """The strings of a TXT rdata joined, as :func:`comparable_value` gives them."""
    strings = []
    while start < end:
        length = wire[start]
        strings.append(wire[start + 1 : start + 1 + length])
        start += 1 + length
    if start != end:
        raise ValueError("a TXT string past the end")
    return b"".join(strings).decode("utf-8", "backslashreplace")


def _canonical_rdata(rdtype: int, wire: bytes, start: int, end: int) -> bytes:
    prefix = _CANONICAL_PREFIX[rdtype]
    if prefix is None:
        return wire[start:end]
    name, after = _name_at(wire, start + prefix)
    if after != end:
        raise ValueError("rdata longer than its name")
    return wire[start : start + prefix] + name


def expectations_for(changes: Iterable[Change]) -> list[Expectation]:
    """What the nameservers must serve once ``changes`` are live."""
    expectations = []
    for change in changes:
        if isinstance(change, Delete):
            expectations.append(Expectation.absent(change.name, change.rdtype))
            continue
        ttl_only = isinstance(change, Update) and {comparable_value(r) for r in change.old} == {
            comparable_value(r) for r in change.new
        }
        expectations.append(Expectation.of(change.new, with_ttl=ttl_only))
    return expectations


@dataclass(frozen=True)
class Nameserver:
    """One address of one authoritative nameserver."""

    host: str
    port: int
    label: str = ""

    def __str__(self) -> str:
        address = f"[{self.host}]" if ":" in self.host else self.host
        where = f"{address}:{self.port}"
        return f"{self.label} ({where})" if self.label else where


@dataclass
class PropagationResult:
    """The outcome of waiting for (or checking) a set of expectations."""

    propagated: bool
    seconds: float
    rounds: int = 0
    nameservers: list[str] = field(default_factory=list)
    lagging: dict[str, list[str]] = field(default_factory=dict)
    """Nameserver -> what it did not serve yet (and why, when it failed to answer)."""

    @property
    def lagging_nameservers(self) -> list[str]:
        return sorted(self.lagging)


def _routable(host: str) -> bool:
    """Whether this machine has a route to ``host`` (a UDP connect sends no packet)."""
    family = socket.AF_INET6 if dns.inet.af_for_address(host) == socket.AF_INET6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 53))
    except OSError:
        return False
    return True


def reachable(addresses: list[Nameserver]) -> list[Nameserver]:
    """The addresses of one nameserver this machine can reach; all of them if it reaches none.

    A host without IPv6 would otherwise wait for every AAAA address in vain; a nameserver none
    of whose addresses is reachable stays, so that it is reported rather than skipped.
    """
    routable = [a for a in addresses if _routable(a.host)]
    return routable or addresses


class NameserverFinder:
    """The authoritative nameservers of a zone, cached for the NS and address TTLs."""

    def __init__(self, settings: DnsSettings, *, timeout: float = 5.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._cache: dict[dns.name.Name, tuple[float, list[Nameserver]]] = {}
        self._resolver: dns.asyncresolver.Resolver | None = None

    def _make_resolver(self) -> dns.asyncresolver.Resolver:
        # dnspython's resolver and query modules are imported at first use: a third of
        # dnspython's import time, and a sync that does not wait needs neither.
        from dns import asyncresolver, nameserver

        if self._resolver is None:
            resolver = asyncresolver.Resolver(configure=not self.settings.resolvers)
            if self.settings.resolvers:
                resolver.nameservers = [
                    nameserver.Do53Nameserver(host, port)
                    for host, port in (parse_host_port(r) for r in self.settings.resolvers)
                ]
            resolver.lifetime = self.timeout
            self._resolver = resolver
        return self._resolver

    async def nameservers(self, zone: dns.name.Name) -> list[Nameserver]:
        if self.settings.authoritative_servers:
            return [
                Nameserver(host, port)
                for host, port in (parse_host_port(s) for s in self.settings.authoritative_servers)
            ]
        cached = self._cache.get(zone)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found, ttl = await self._discover(zone)
        self._cache[zone] = (time.monotonic() + ttl, found)
        return found

    async def _discover(self, zone: dns.name.Name) -> tuple[list[Nameserver], int]:
        resolver = self._make_resolver()
        try:
            ns_answer = await resolver.resolve(zone, "NS")
        except dns.exception.DNSException as exc:
            raise DnsautoError(f"cannot find the nameservers of {zone}: {exc}") from None
        ttl = ns_answer.rrset.ttl if ns_answer.rrset is not None else 300
        targets = sorted({r.target for r in ns_answer})

        async def addresses(target: dns.name.Name, rdtype: str) -> dns.resolver.Answer | None:
            try:
                return await resolver.resolve(target, rdtype)
            except dns.exception.DNSException:
                return None

        answers = await asyncio.gather(
            *(addresses(t, rdtype) for t in targets for rdtype in ("A", "AAAA"))
        )
        found: list[Nameserver] = []
        seen: set[str] = set()
        for index, target in enumerate(targets):
            of_target: list[Nameserver] = []
            for answer in answers[2 * index : 2 * index + 2]:
                if answer is None:
                    continue
                if answer.rrset is not None:
                    ttl = min(ttl, answer.rrset.ttl)
                for rdata in answer:
                    if rdata.address not in seen:  # one address under two names: ask it once
                        seen.add(rdata.address)
                        port = self.settings.authoritative_port
                        of_target.append(Nameserver(rdata.address, port, target.to_text()))
            found += reachable(of_target)
        if not found:
            raise DnsautoError(f"none of the nameservers of {zone} has an address")
        return found, max(ttl, 30)


class _Channel(asyncio.DatagramProtocol):
    """One UDP socket to one nameserver, shared by the questions in flight to it.

    Each question has an id of its own among those in flight; an answer goes to the question
    of its id (and is then checked against that question). An ICMP error (port unreachable)
    fails every question in flight, as it would have failed each on a socket of its own.
    """

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[int, asyncio.Future[bytes]] = {}
        self.users = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) >= 12 and data[2] & 0x80:
            waiter = self.waiting.get(int.from_bytes(data[:2], "big"))
            if waiter is not None and not waiter.done():
                waiter.set_result(data)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        for waiter in self.waiting.values():
            if not waiter.done():
                waiter.set_exception(exc)

    def new_id(self) -> int:
        while True:
            query_id = _random_id()
            if query_id not in self.waiting:
                return query_id


_random_ids: list[int] = []


def _random_id() -> int:
    """A query id from the system's random source, drawn 256 at a time (a getrandom call for
    each id was a twentieth of a proof's CPU); unpredictable all the same."""
    if not _random_ids:
        _random_ids.extend(memoryview(secrets.token_bytes(512)).cast("H"))
    return _random_ids.pop()


def _answer_only(wire: bytes) -> dns.message.Message:
    """Header, question and answer of a DNS message; the other sections are not parsed.

    The authority and additional sections (a BIND answer carries the NS set and its addresses)
    are nothing propagation looks at, and they are most of the parsing: measured here, 380 µs
    for a whole BIND answer against 45 µs without them, which made a poll round CPU-bound.
    """
    return dns.message.from_wire(wire[:8] + bytes(4) + wire[12:], ignore_trailing=True)


_OPT_RECORD = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, _EDNS_PAYLOAD, 0, 0)
"""EDNS(0) with a UDP payload of ``_EDNS_PAYLOAD`` bytes, no flags, no options."""


def _query_wire(query_id: int, expectation: Expectation) -> bytes:
    """The question as :func:`dns.message.make_query` makes it (EDNS(0), ``_EDNS_PAYLOAD``),
    recursion off."""
    return _HEADER.pack(query_id, 0, 1, 0, 0, 1) + expectation.question + _OPT_RECORD


def _query_message(query_id: int, expectation: Expectation) -> dns.message.Message:
    query = dns.message.make_query(
        expectation.name, expectation.rdtype, use_edns=0, payload=_EDNS_PAYLOAD
    )
    query.flags &= ~dns.flags.RD
    query.id = query_id
    return query


class PropagationChecker:
    """Polls nameservers directly until they serve what is expected."""

    def __init__(self, finder: NameserverFinder) -> None:
        self.finder = finder
        self._in_flight = asyncio.Semaphore(_MAX_IN_FLIGHT)
        self._channels: dict[tuple[str, int], asyncio.Future[_Channel]] = {}

    async def _open(self, server: Nameserver) -> _Channel:
        """The channel to ``server``, opened by the first question in flight to it."""
        key = (server.host, server.port)
        loop = asyncio.get_running_loop()
        while True:
            opening = self._channels.get(key)
            if opening is None:
                opening = loop.create_future()
                self._channels[key] = opening
                try:
                    _, channel = await loop.create_datagram_endpoint(_Channel, remote_addr=key)
                except BaseException as exc:
                    del self._channels[key]
                    opening.set_exception(exc)
                    opening.exception()  # retrieved: the questions waiting for it raise it too
                    raise
                opening.set_result(channel)
            # Open already, the usual case: taken as it is, without a shield (a future each).
            channel = opening.result() if opening.done() else await asyncio.shield(opening)
            if channel.transport is not None and not channel.transport.is_closing():
                channel.users += 1
                return channel
            # closed by the last question before this one: open another

    def _close(self, server: Nameserver, channel: _Channel) -> None:
        """The last question in flight to ``server`` closes its channel."""
        channel.users -= 1
        if channel.users == 0 and channel.transport is not None:
            channel.transport.close()
            key = (server.host, server.port)
            opening = self._channels.get(key)
            if opening is not None and opening.done() and opening.result() is channel:
                del self._channels[key]

    async def _udp(
        self, server: Nameserver, expectation: Expectation, within: float
    ) -> tuple[int, bytes]:
        """Send the question over UDP: its id and the answer's wire, within ``within`` s."""
        channel = await self._open(server)
        try:
            query_id = channel.new_id()
            waiter = asyncio.get_running_loop().create_future()
            channel.waiting[query_id] = waiter
            try:
                assert channel.transport is not None
                channel.transport.sendto(_query_wire(query_id, expectation))
                async with asyncio.timeout(within):
                    return query_id, await waiter
            finally:
                del channel.waiting[query_id]
        finally:
            self._close(server, channel)

    async def ask(
        self, server: Nameserver, expectation: Expectation, query_timeout: float
    ) -> tuple[bool, str]:
        """Whether ``server`` meets ``expectation`` now, and what it served or why it failed.

        The answer is read from its wire (:meth:`Expectation.met_by_answer`); only one that
        does not certainly meet the expectation is parsed as a message, which decides.
        """
        try:
            async with self._in_flight:
                started = time.monotonic()
                query_id, wire = await self._udp(server, expectation, query_timeout)
                if expectation.met_by_answer(wire, query_id):
                    return True, ""
                query = _query_message(query_id, expectation)
                response = _answer_only(wire)
                if not query.is_response(response):
                    raise dns.exception.FormError("the answer does not match the question")  # type: ignore[no-untyped-call]
                if response.flags & dns.flags.TC:
                    remaining = max(0.0, query_timeout - (time.monotonic() - started))
                    from dns import asyncquery

                    response = await asyncquery.tcp(
                        query, server.host, timeout=remaining, port=server.port
                    )
        except (dns.exception.Timeout, TimeoutError):
            return False, f"no answer within {query_timeout:g}s"
        except (OSError, dns.exception.DNSException) as exc:
            return False, f"query failed: {exc or type(exc).__name__}"
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return False, f"answered {dns.rcode.to_text(rcode)}"
        if not response.flags & dns.flags.AA:
            return False, "not authoritative for the zone"
        rrset = response.get_rrset(
            response.answer, expectation.name, dns.rdataclass.IN, expectation.rdtype
        )
        if expectation.met_by_rrset(rrset):
            return True, ""
        if rrset is None:
            return False, "serves nothing" if rcode == dns.rcode.NOERROR else "answers NXDOMAIN"
        shown = ", ".join(sorted(comparable_value(r) for r in rrset))
        if expectation.ttl is not None and rrset.ttl != expectation.ttl:
            shown += f" (TTL {rrset.ttl}, not {expectation.ttl})"
        return False, f"serves {shown}"

    async def check(
        self,
        servers: Sequence[Nameserver],
        expectations: Sequence[Expectation],
        query_timeout: float,
    ) -> dict[Pair, str]:
        """One round: every (server, expectation) that is not met, with why."""
        pairs = [(s, e) for s in servers for e in expectations]
        answers = await asyncio.gather(*(self.ask(s, e, query_timeout) for s, e in pairs))
        return {pair: why for pair, (ok, why) in zip(pairs, answers, strict=True) if not ok}

    async def snapshot(
        self, zone: dns.name.Name, expectations: Sequence[Expectation], *, query_timeout: float
    ) -> PropagationResult:
        """Ask every nameserver of ``zone`` once, each query given ``query_timeout``."""
        started = time.monotonic()
        servers = await self.finder.nameservers(zone)
        failures = await self.check(servers, expectations, query_timeout)
        return _result(started, servers, failures, rounds=1)

    async def wait(
        self,
        zone: dns.name.Name,
        expectations: Sequence[Expectation],
        *,
        delay: float = 0.0,
        interval: float = 15.0,
        propagation_timeout: float = 60.0,
        query_timeout: float = 30.0,
    ) -> PropagationResult:
        """Poll until every nameserver meets every expectation, or the time is up.

        Nothing is sent to the nameservers before ``delay`` has passed; the polling then lasts
        at most ``propagation_timeout`` (queries still out then are given up). A timeout of
        zero asks once and waits for every answer.
        """
        started = time.monotonic()
        servers = await self.finder.nameservers(zone)
        if delay > 0:
            await asyncio.sleep(delay)
        if propagation_timeout <= 0:
            failures = await self.check(servers, expectations, query_timeout)
            return _result(started, servers, failures, rounds=1)
        interval = max(interval, _MIN_INTERVAL)
        loop = asyncio.get_running_loop()
        polling_started = time.monotonic()
        deadline = polling_started + propagation_timeout
        # Pairs by their index: hashing a pair hashes its name and values, every time.
        pairs = list(dict.fromkeys((s, e) for s in servers for e in expectations))
        pending = dict.fromkeys(range(len(pairs)), _UNANSWERED)
        in_flight: dict[asyncio.Task[tuple[bool, str]], int] = {}
        asking: set[int] = set()
        finished: list[asyncio.Task[tuple[bool, str]]] = []
        woken = asyncio.Event()

        def answered(task: asyncio.Task[tuple[bool, str]]) -> None:
            finished.append(task)
            woken.set()

        next_round = polling_started
        rounds = 0
        try:
            while pending:
                now = time.monotonic()
                if now >= next_round:
                    rounds += 1
                    for index in pending:
                        if index not in asking:
                            task = asyncio.create_task(self.ask(*pairs[index], query_timeout))
                            task.add_done_callback(answered)
                            in_flight[task] = index
                            asking.add(index)
                    while next_round <= now:
                        next_round += interval
                if now >= deadline:
                    break
                wake = min(next_round, deadline)
                if not in_flight:
                    await asyncio.sleep(wake - now)
                    continue
                if not finished:
                    woken.clear()
                    timer = loop.call_later(max(0.0, wake - now), woken.set)
                    try:
                        await woken.wait()
                    finally:
                        timer.cancel()
                done, finished[:] = list(finished), []
                for task in done:
                    index = in_flight.pop(task)
                    asking.discard(index)
                    ok, why = task.result()
                    if ok:
                        del pending[index]
                    else:
                        pending[index] = why
        finally:
            for task in in_flight:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*in_flight, return_exceptions=True)
        failures = {
            pairs[index]: f"no answer within {propagation_timeout:g}s"
            if why == _UNANSWERED
            else why
            for index, why in pending.items()
        }
        return _result(started, servers, failures, rounds=rounds)


def _result(
    started: float, servers: Sequence[Nameserver], failures: dict[Pair, str], *, rounds: int
) -> PropagationResult:
    result = PropagationResult(
        propagated=not failures,
        seconds=round(time.monotonic() - started, 3),
        rounds=rounds,
        nameservers=[str(s) for s in servers],
    )
    for (server, expectation), why in failures.items():
        result.lagging.setdefault(str(server), []).append(f"{expectation}: {why}")
    return result


_desired_value: ByIdentity[dns.rdata.Rdata, str] = ByIdentity(comparable_value, kept=4096)
_desired_wire: ByIdentity[dns.rdata.Rdata, bytes] = ByIdentity(_canonical_wire, kept=4096)
"""An expectation's values and canonical wire forms, made once for each desired rdata object
(a fifth of a proof's CPU was making them for the rdata every domain shares)."""
