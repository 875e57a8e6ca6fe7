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
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

from dnsauto.config.daemon import DnsSettings, parse_host_port
from dnsauto.plugin.changes import Change, Delete, Update, comparable_value
from dnsauto.plugin.errors import DnsautoError
from dnsauto.sync.plan import leaves_unchanged

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
    """

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    values: frozenset[str]
    exact: bool = True
    ttl: int | None = None
    merged_into: dns.rrset.RRset | None = field(default=None, compare=False)

    @classmethod
    def of(
        cls, rrset: dns.rrset.RRset, *, exact: bool = True, with_ttl: bool = False
    ) -> Expectation:
        values = frozenset(comparable_value(r) for r in rrset)
        return cls(rrset.name, rrset.rdtype, values, exact, rrset.ttl if with_ttl else None)

    @classmethod
    def shared(cls, rrset: dns.rrset.RRset) -> Expectation:
        """The desired RRset at a shared name: met when a plan would leave the served RRset
        alone (the managed values present beside foreign ones, an SPF record merged)."""
        values = frozenset(comparable_value(r) for r in rrset)
        return cls(rrset.name, rrset.rdtype, values, exact=False, merged_into=rrset)

    @classmethod
    def absent(cls, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Expectation:
        return cls(name, rdtype, frozenset())

    def met_by(self, served: frozenset[str], ttl: int | None = None) -> bool:
        """Whether the values ``served`` (canonical text, see :meth:`of`) are as expected.

        An expectation at a shared name is judged here by its values alone; :meth:`met_by_rrset`
        judges it as the planner would.
        """
        if not self.values:
            return not served
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
        if self._resolver is None:
            resolver = dns.asyncresolver.Resolver(configure=not self.settings.resolvers)
            if self.settings.resolvers:
                resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(host, port)
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


class _Reply(asyncio.DatagramProtocol):
    """Takes the first datagram that answers the query ``query_id``."""

    def __init__(self, query_id: int) -> None:
        self.query_id = query_id
        self.wire: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        is_answer = len(data) >= 12 and data[2] & 0x80
        ours = is_answer and int.from_bytes(data[:2], "big") == self.query_id
        if ours and not self.wire.done():
            self.wire.set_result(data)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        if not self.wire.done():
            self.wire.set_exception(exc)


def _answer_only(wire: bytes) -> dns.message.Message:
    """Header, question and answer of a DNS message; the other sections are not parsed.

    The authority and additional sections (a BIND answer carries the NS set and its addresses)
    are nothing propagation looks at, and they are most of the parsing: measured here, 380 µs
    for a whole BIND answer against 45 µs without them, which made a poll round CPU-bound.
    """
    return dns.message.from_wire(wire[:8] + bytes(4) + wire[12:], ignore_trailing=True)


async def _exchange(
    query: dns.message.Message, host: str, port: int, within: float
) -> dns.message.Message:
    """Ask over UDP; ask again over TCP when the answer is truncated; all ``within`` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    transport, reply = await loop.create_datagram_endpoint(
        lambda: _Reply(query.id), remote_addr=(host, port)
    )
    try:
        transport.sendto(query.to_wire())
        async with asyncio.timeout(within):
            wire = await reply.wire
    finally:
        transport.close()
    response = _answer_only(wire)
    if not query.is_response(response):
        raise dns.exception.FormError("the answer does not match the question")  # type: ignore[no-untyped-call]
    if response.flags & dns.flags.TC:
        remaining = max(0.0, within - (loop.time() - started))
        response = await dns.asyncquery.tcp(query, host, timeout=remaining, port=port)
    return response


class PropagationChecker:
    """Polls nameservers directly until they serve what is expected."""

    def __init__(self, finder: NameserverFinder) -> None:
        self.finder = finder
        self._in_flight = asyncio.Semaphore(_MAX_IN_FLIGHT)

    async def ask(
        self, server: Nameserver, expectation: Expectation, query_timeout: float
    ) -> tuple[bool, str]:
        """Whether ``server`` meets ``expectation`` now, and what it served or why it failed."""
        query = dns.message.make_query(
            expectation.name, expectation.rdtype, use_edns=0, payload=_EDNS_PAYLOAD
        )
        query.flags &= ~dns.flags.RD
        try:
            async with self._in_flight:
                response = await _exchange(query, server.host, server.port, query_timeout)
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
        polling_started = time.monotonic()
        deadline = polling_started + propagation_timeout
        pending: dict[Pair, str] = {(s, e): _UNANSWERED for s in servers for e in expectations}
        in_flight: dict[asyncio.Task[tuple[bool, str]], Pair] = {}
        next_round = polling_started
        rounds = 0
        try:
            while pending:
                now = time.monotonic()
                if now >= next_round:
                    rounds += 1
                    asked = set(in_flight.values())
                    for pair in pending:
                        if pair not in asked:
                            task = asyncio.create_task(self.ask(*pair, query_timeout))
                            in_flight[task] = pair
                    while next_round <= now:
                        next_round += interval
                if now >= deadline:
                    break
                wake = min(next_round, deadline)
                if not in_flight:
                    await asyncio.sleep(wake - now)
                    continue
                done, _ = await asyncio.wait(
                    in_flight, timeout=max(0.0, wake - now), return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    pair = in_flight.pop(task)
                    ok, why = task.result()
                    if ok:
                        del pending[pair]
                    else:
                        pending[pair] = why
        finally:
            for task in in_flight:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*in_flight, return_exceptions=True)
        for pair, why in pending.items():
            if why == _UNANSWERED:
                pending[pair] = f"no answer within {propagation_timeout:g}s"
        return _result(started, servers, pending, rounds=rounds)


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
