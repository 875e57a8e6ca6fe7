"""Is a change live? Ask every authoritative nameserver of the zone until all of them agree.

Nameservers are the zone's NS set, resolved through ``daemon.dns.resolvers`` (the system's by
default), each address asked on ``daemon.dns.authoritativePort``; ``authoritativeServers``
replaces discovery. Every round sends all pending (server, name, type) questions at once, with
recursion off and TCP on truncation; a question leaves the pending set as soon as its server
serves exactly the expected RRset (or nothing, for a deletion). A server that times out,
refuses, fails or is not authoritative counts as not propagated and is named in the result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver
import dns.rrset

from dnsauto.changes import Change, Delete
from dnsauto.config.daemon import DnsSettings, parse_host_port
from dnsauto.errors import DnsautoError

__all__ = [
    "Expectation",
    "Nameserver",
    "NameserverFinder",
    "PropagationChecker",
    "PropagationResult",
    "expectations_for",
]

_MAX_IN_FLIGHT = 128


def _canonical(rdata: dns.rdata.Rdata) -> str:
    """Rdata as comparable text; TXT by its joined strings, however they were split."""
    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "backslashreplace")  # type: ignore[attr-defined]
    return rdata.to_text().lower() if rdata.rdtype == dns.rdatatype.CNAME else rdata.to_text()


@dataclass(frozen=True)
class Expectation:
    """What every nameserver must serve at (name, type).

    ``values`` empty means the RRset must be gone (NXDOMAIN or NODATA). With ``exact`` false the
    served RRset must contain the values but may hold others (foreign values at shared names).
    """

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    values: frozenset[str]
    exact: bool = True

    @classmethod
    def of(cls, rrset: dns.rrset.RRset, *, exact: bool = True) -> Expectation:
        return cls(rrset.name, rrset.rdtype, frozenset(_canonical(r) for r in rrset), exact)

    @classmethod
    def absent(cls, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Expectation:
        return cls(name, rdtype, frozenset())

    def met_by(self, served: frozenset[str]) -> bool:
        if not self.values:
            return not served
        return served == self.values if self.exact else self.values <= served

    def __str__(self) -> str:
        return f"{self.name} {dns.rdatatype.to_text(self.rdtype)}"


def expectations_for(changes: Iterable[Change]) -> list[Expectation]:
    """What the nameservers must serve once ``changes`` are live."""
    return [
        Expectation.absent(c.name, c.rdtype) if isinstance(c, Delete) else Expectation.of(c.new)
        for c in changes
    ]


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
    """The outcome of waiting for a set of changes."""

    propagated: bool
    seconds: float
    rounds: int = 0
    nameservers: list[str] = field(default_factory=list)
    lagging: dict[str, list[str]] = field(default_factory=dict)
    """Nameserver -> what it did not serve yet (and why, when it failed to answer)."""

    @property
    def lagging_nameservers(self) -> list[str]:
        return sorted(self.lagging)


class NameserverFinder:
    """The authoritative nameservers of a zone, cached for the NS and address TTLs."""

    def __init__(self, settings: DnsSettings, *, timeout: float = 5.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._cache: dict[dns.name.Name, tuple[float, list[Nameserver]]] = {}
        self._resolver: dns.asyncresolver.Resolver | None = None

    def _make_resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            configure = not self.settings.resolvers
            resolver = dns.asyncresolver.Resolver(configure=configure)
            if self.settings.resolvers:
                pairs = [parse_host_port(r) for r in self.settings.resolvers]
                resolver.nameservers = [h for h, _ in pairs]
                resolver.nameserver_ports = dict(pairs)
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
        found: list[Nameserver] = []
        for ns in sorted(r.target for r in ns_answer):
            for rdtype in ("A", "AAAA"):
                try:
                    addresses = await resolver.resolve(ns, rdtype)
                except dns.exception.DNSException:
                    continue
                if addresses.rrset is not None:
                    ttl = min(ttl, addresses.rrset.ttl)
                found += [
                    Nameserver(a.address, self.settings.authoritative_port, ns.to_text())
                    for a in addresses
                ]
        if not found:
            raise DnsautoError(f"none of the nameservers of {zone} has an address")
        return found, max(ttl, 30)


class PropagationChecker:
    """Polls nameservers directly until they serve what is expected."""

    def __init__(self, finder: NameserverFinder) -> None:
        self.finder = finder
        self._in_flight = asyncio.Semaphore(_MAX_IN_FLIGHT)

    async def ask(
        self, server: Nameserver, expectation: Expectation, query_timeout: float
    ) -> tuple[bool, str]:
        """Whether ``server`` meets ``expectation`` now, and what it served or why it failed."""
        query = dns.message.make_query(expectation.name, expectation.rdtype)
        query.flags &= ~dns.flags.RD
        try:
            async with self._in_flight:
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, server.host, timeout=query_timeout, port=server.port
                )
        except (dns.exception.Timeout, TimeoutError):
            return False, f"no answer within {query_timeout:g}s"
        except (OSError, dns.exception.DNSException) as exc:
            return False, f"query failed: {exc}"
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return False, f"answered {dns.rcode.to_text(rcode)}"
        if not response.flags & dns.flags.AA:
            return False, "not authoritative for the zone"
        rrset = response.get_rrset(
            response.answer, expectation.name, dns.rdataclass.IN, expectation.rdtype
        )
        served = frozenset(_canonical(r) for r in rrset) if rrset is not None else frozenset()
        if expectation.met_by(served):
            return True, ""
        shown = ", ".join(sorted(served)) if served else "nothing"
        return False, f"serves {shown}"

    async def check(
        self,
        servers: Sequence[Nameserver],
        expectations: Sequence[Expectation],
        query_timeout: float,
    ) -> dict[tuple[Nameserver, Expectation], str]:
        """One round: every (server, expectation) that is not met, with why."""
        pairs = [(s, e) for s in servers for e in expectations]
        answers = await asyncio.gather(*(self.ask(s, e, query_timeout) for s, e in pairs))
        return {pair: why for pair, (ok, why) in zip(pairs, answers, strict=True) if not ok}

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
        """Poll until every nameserver meets every expectation, or the time is up."""
        started = time.monotonic()
        servers = await self.finder.nameservers(zone)
        result = PropagationResult(False, 0.0, nameservers=[str(s) for s in servers])
        if delay > 0:
            await asyncio.sleep(delay)
        deadline = started + delay + propagation_timeout
        pending = [(s, e) for s in servers for e in expectations]
        failures: dict[tuple[Nameserver, Expectation], str] = {}
        while pending:
            result.rounds += 1
            per_query = min(query_timeout, max(1.0, deadline - time.monotonic()))
            answers = await asyncio.gather(*(self.ask(s, e, per_query) for s, e in pending))
            failures = {p: why for p, (ok, why) in zip(pending, answers, strict=True) if not ok}
            pending = list(failures)
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0:
                break
            await asyncio.sleep(min(interval, remaining))
        result.propagated = not pending
        result.seconds = round(time.monotonic() - started, 3)
        for (server, expectation), why in failures.items():
            result.lagging.setdefault(str(server), []).append(f"{expectation}: {why}")
        return result
