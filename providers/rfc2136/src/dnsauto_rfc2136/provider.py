"""DNS UPDATE (RFC 2136) providers: ``Tsig`` (RFC 8945) and ``Sig0`` (RFC 2931).

* Zones are found by SOA queries at the configured server, walking up the labels, so a
  delegated child zone hosted there is found as its own zone.
* Records are read by zone transfer (AXFR) where the server allows it, else by one query per
  name and type for the names asked.
* Each :meth:`~Rfc2136Provider.apply` sends one UPDATE carrying every change (split only when
  the message would pass 64 KiB), with prerequisites: a created RRset must not exist, an
  updated or deleted one must still hold exactly the values read. Someone else's change in
  between makes the update fail as a whole with :class:`~dnsauto.plugin.errors.ConflictError`.
"""

from __future__ import annotations

import abc
import asyncio
import importlib
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.update

from dnsauto.plugin import (
    AuthenticationError,
    Capabilities,
    Change,
    ConfigProblem,
    Create,
    Provider,
    ProviderContext,
    ProviderError,
    SecretError,
    Update,
    Zone,
    ZoneNotFoundError,
    canonical_order,
)
from dnsauto_rfc2136.errors import Where, map_failure
from dnsauto_rfc2136.settings import Rfc2136DnsServer, Sig0DnsServer, TsigDnsServer
from dnsauto_rfc2136.transport import (
    MAX_MESSAGE_SIZE,
    UDP_PAYLOAD,
    AnswerMismatch,
    Endpoint,
    Reply,
    RequestSigner,
    ResponseChecker,
    RetryPolicy,
    TransferError,
    Transport,
)
from dnsauto_rfc2136.tsig import TsigCheck, TsigFailure, TsigKey
from dnsauto_rfc2136.wire import apex_serial, query_wire, update_wire

__all__ = ["Rfc2136Provider", "Sig0Provider", "TsigProvider"]

SettingsT = TypeVar("SettingsT", bound=Rfc2136DnsServer)

_SERVER_MAINTAINED = frozenset(
    dns.rdatatype.RdataType.make(t) for t in ("RRSIG", "NSEC", "NSEC3", "NSEC3PARAM")
)
_SIGNATURE_RESERVE = 1024
"""Bytes kept free in each UPDATE for its TSIG or SIG(0) record."""

_FAILURES = (
    OSError,
    EOFError,
    TimeoutError,
    dns.exception.DNSException,
    TsigFailure,
    AnswerMismatch,
    TransferError,
)
"""What talking to the server can raise; each is mapped by :func:`map_failure`."""


class Rfc2136Provider(Provider[SettingsT], abc.ABC):
    """What ``Tsig`` and ``Sig0`` share: discovery, reading, and prerequisite-guarded UPDATEs."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        record_types=frozenset(
            dns.rdatatype.RdataType.make(t)
            for t in ("A", "AAAA", "NS", "MX", "TXT", "CNAME", "SRV", "CAA", "TLSA")
        ),
        max_changes_per_batch=500,
        atomic_batches=True,
        can_list_names=True,
        change_marker=True,
    )
    retry: ClassVar[RetryPolicy] = RetryPolicy()
    query_concurrency: ClassVar[int] = 16
    """How many per-name queries are in flight at once when the zone cannot be transferred."""

    def __init__(self, settings: SettingsT, context: ProviderContext) -> None:
        super().__init__(settings, context)
        self.clock: Callable[[], float] = time.time
        """The time used to sign; tests skew it to provoke BADTIME."""
        self.endpoint = Endpoint(
            host=str(settings.host),
            port=settings.port,
            protocol=settings.protocol,
            timeout=settings.timeout.total_seconds(),
        )
        self._transport: Transport | None = None
        self._no_transfer: set[dns.name.Name] = set()
        self._not_apex: set[dns.name.Name] = set()
        """Names whose zone transfer failed: :meth:`read_zone` finds their zone first."""
        self._delegations: dict[dns.name.Name, frozenset[dns.name.Name]] = {}
        """Each transferred zone's delegations (NS below its apex) in its last transfer."""

    # --- what a variant supplies ------------------------------------------------------------

    @abc.abstractmethod
    def _signer(self) -> RequestSigner:
        """The signer of this variant's requests; raises ``SecretError`` for a bad secret."""

    sign_queries: ClassVar[bool] = True
    """Whether queries and zone transfers are signed too, not only UPDATEs."""
    signed_answers: ClassVar[bool] = True
    """Whether the server signs its answers to signed requests (TSIG does, SIG(0) not)."""

    # --- plumbing ---------------------------------------------------------------------------

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = self._new_transport(self._signer())
        return self._transport

    async def _connect(self) -> None:
        """Make the transport with the signer made off the event loop: it reads the secret,
        perhaps from a file."""
        if self._transport is None:
            signer = await asyncio.to_thread(self._signer)
            if self._transport is None:
                self._transport = self._new_transport(signer)

    def _new_transport(self, signer: RequestSigner) -> Transport:
        return Transport(self.endpoint, signer, retry=self.retry, clock=lambda: self.clock())

    def _secret_error(self, field: str, exc: Exception) -> SecretError:
        message = exc.message if isinstance(exc, SecretError) else str(exc)
        return SecretError([ConfigProblem(self.context.config_path(field), message)])

    def _where(self, operation: str, zone: dns.name.Name | None = None, **extra: str) -> Where:
        signer = self.transport.signer
        signed = operation == "UPDATE" or self.sign_queries
        return Where(
            provider=self.context.server_id,
            server=str(self.endpoint),
            protocol="tcp" if operation == "AXFR" else self.endpoint.protocol,  # always TCP
            timeout=self.endpoint.timeout,
            credential=signer.describe() if signer is not None and signed else "no key",
            operation=operation,
            signed_answers=signed and signer is not None and self.signed_answers,
            zone=zone.to_text() if zone is not None else "",
            **extra,
        )

    async def _ask(
        self,
        request: dns.message.Message | bytes,
        where: Where,
        *,
        sign: bool | None = None,
        parse: bool = True,
    ) -> Reply:
        transport = self.transport
        sent = transport.messages_sent
        try:
            return await transport.exchange(
                request, sign=self.sign_queries if sign is None else sign, parse=parse
            )
        except _FAILURES as exc:
            if transport.messages_sent > sent and transport.last_protocol is not None:
                where = replace(where, protocol=transport.last_protocol)
            raise map_failure(exc, where) from exc

    async def _query(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        where: Where,
        *,
        parse: bool = True,
    ) -> Reply:
        return await self._ask(query_wire(name, rdtype, UDP_PAYLOAD), where, parse=parse)

    @staticmethod
    def _parsed(reply: Reply, where: Where) -> dns.message.Message:
        """``reply``'s message, parsed now (an exchange asked with ``parse=False``); a
        failure names the protocol the answer came over, as :meth:`_ask` does."""
        try:
            return reply.message
        except _FAILURES as exc:
            raise map_failure(exc, replace(where, protocol=reply.protocol)) from exc

    @staticmethod
    def _rcode(reply: Reply, where: Where) -> dns.rcode.Rcode:
        """``reply``'s rcode, from its wire; an answer that cannot be walked for it is parsed,
        and a failure to parse it named as :meth:`_parsed` names it."""
        try:
            return reply.rcode()
        except _FAILURES as exc:
            raise map_failure(exc, replace(where, protocol=reply.protocol)) from exc

    # --- zones ------------------------------------------------------------------------------

    async def find_zone(self, name: dns.name.Name) -> Zone:
        """The zone of ``name`` at the server: the nearest ancestor that answers its SOA.

        A referral, NXDOMAIN, REFUSED or NOTAUTH is not a zone; an answer that names the
        enclosing zone in its authority section lets the walk jump there.
        """
        await self._connect()
        candidate = name
        refusals: list[str] = []
        while candidate != dns.name.root:
            where = self._where("SOA query", name=candidate.to_text(), rdtype="SOA")
            reply = await self._query(candidate, dns.rdatatype.SOA, where, parse=False)
            if reply.check.error:
                raise map_failure(reply, where)
            serial = apex_serial(reply.wire, candidate.to_digestable())
            if serial is not None:  # the common answer, read without dnspython
                return Zone(name=candidate, id=str(self.endpoint), marker=str(serial))
            message = self._parsed(reply, where)
            authoritative = bool(message.flags & dns.flags.AA)
            apex = any(
                r.rdtype == dns.rdatatype.SOA and r.name == candidate for r in message.answer
            )
            if reply.rcode() == dns.rcode.NOERROR and authoritative and apex:
                marker = _serial([r for r in message.answer if r.name == candidate])
                return Zone(name=candidate, id=str(self.endpoint), marker=marker)
            if reply.rcode() == dns.rcode.NOTAUTH:
                refusals.append(candidate.to_text())
            parent = candidate.parent()
            if authoritative and reply.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                for rrset in message.authority:
                    if rrset.rdtype == dns.rdatatype.SOA and candidate.is_subdomain(rrset.name):
                        parent = rrset.name if rrset.name != candidate else parent
                        break
            candidate = parent
        if refusals and self.transport.signer is not None and self.sign_queries:
            raise AuthenticationError(
                f"the server answered NOTAUTH to SOA queries signed with "
                f"{self.transport.signer.describe()} (for {', '.join(refusals)}): it did not "
                f"accept the key [SOA query to {self.endpoint}]",
                provider=self.context.server_id,
                name=name.to_text(),
            )
        raise ZoneNotFoundError(
            f"no zone at {self.endpoint} contains {name.to_text()}: neither it nor a parent "
            "answered an SOA query authoritatively",
            provider=self.context.server_id,
            name=name.to_text(),
        )

    # --- reading ----------------------------------------------------------------------------

    async def read_zone(
        self, name: dns.name.Name, names: Collection[dns.name.Name] | None = None
    ) -> tuple[Zone, list[dns.rrset.RRset]]:
        """The zone and its RRsets in one request where possible: a transfer of ``name``
        itself, whose opening SOA shows it is a zone apex here (and gives the serial). A name
        inside a zone, or a zone that cannot be transferred, is found first (and remembered)."""
        await self._connect()
        if name not in self._not_apex and name not in self._no_transfer:
            where = self._where("AXFR", name)
            try:
                records = await self.transport.transfer(name, sign=self.sign_queries)
            except TransferError:
                self._not_apex.add(name)
            except _FAILURES as exc:
                raise map_failure(exc, where) from exc
            else:
                marker = _serial(
                    [r for r in records if r.rdtype == dns.rdatatype.SOA and r.name == name]
                )
                if marker is not None:
                    zone = Zone(name=name, id=str(self.endpoint), marker=marker)
                    wanted = set(names) if names is not None else None
                    return zone, self._transferred(records, name, wanted)
                self._not_apex.add(name)
        zone = await self.find_zone(name)
        return zone, await self.list_rrsets(zone, names)

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        """The zone's RRsets at ``names`` (or all): by AXFR if allowed, else per-name queries."""
        await self._connect()
        wanted = set(names) if names is not None else None
        if zone.name not in self._no_transfer:
            where = self._where("AXFR", zone.name)
            try:
                records = await self.transport.transfer(zone.name, sign=self.sign_queries)
            except TransferError as exc:
                if wanted is None:
                    raise map_failure(exc, where) from exc
                self._no_transfer.add(zone.name)
            except _FAILURES as exc:
                raise map_failure(exc, where) from exc
            else:
                return self._transferred(records, zone.name, wanted)
        if wanted is None:
            raise ProviderError(
                f"the server refuses zone transfers of {zone.name}, so the whole zone cannot be "
                f"listed [AXFR to {self.endpoint}]",
                provider=self.context.server_id,
                zone=zone.name.to_text(),
            )
        return await self._query_names(zone, [n for n in wanted if n.is_subdomain(zone.name)])

    def _transferred(
        self,
        records: list[dns.rrset.RRset],
        zone: dns.name.Name,
        wanted: set[dns.name.Name] | None,
    ) -> list[dns.rrset.RRset]:
        """A transfer's own records of ``zone`` (its delegations kept for :meth:`subzones`)."""
        cuts = _zone_cuts(records, zone)
        self._delegations[zone] = cuts
        return _authoritative(records, zone, wanted, cuts)

    async def subzones(self, zone: Zone, names: Collection[dns.name.Name]) -> set[dns.name.Name]:
        """The delegations of ``zone``'s last transfer that hold some of ``names``; without a
        transfer, the zones found by SOA queries (the default)."""
        cuts = self._delegations.get(zone.name)
        if cuts is None:
            return await super().subzones(zone, names)
        return {cut for cut in cuts if any(name.is_subdomain(cut) for name in names)}

    async def _query_names(self, zone: Zone, names: list[dns.name.Name]) -> list[dns.rrset.RRset]:
        limit = asyncio.Semaphore(self.query_concurrency)
        rdtypes = sorted(self.capabilities.record_types)

        async def one(
            name: dns.name.Name, rdtype: dns.rdatatype.RdataType
        ) -> dns.rrset.RRset | None:
            where = self._where("query", zone.name, name=name.to_text(), rdtype=rdtype.name)
            async with limit:
                reply = await self._query(name, rdtype, where)
            if reply.check.error or reply.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                raise map_failure(reply, where)
            if not reply.message.flags & dns.flags.AA:
                return None  # a referral into a delegated zone: not this zone's data
            for rrset in reply.message.answer:
                if rrset.name == name and rrset.rdtype == rdtype:
                    return rrset
            return None

        found = await asyncio.gather(*(one(n, t) for n in names for t in rdtypes))
        return [r for r in found if r is not None]

    # --- writing ----------------------------------------------------------------------------

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        """Send ``changes`` as one prerequisite-guarded UPDATE (more only past 64 KiB)."""
        if not changes:
            return
        await self._connect()
        messages = _rendered_updates(zone.name, changes)
        for index, (_, part, wire) in enumerate(messages, start=1):
            first = part[0]
            extra = (
                {"name": first.name.to_text(), "rdtype": first.rdtype.name}
                if len(part) == 1
                else {}
            )
            where = self._where("UPDATE", zone.name, **extra)
            if len(messages) > 1:
                done = f"UPDATEs 1-{index - 1} were applied" if index > 1 else "none was applied"
                where = replace(
                    where, batch=f"UPDATE {index} of {len(messages)} ({len(part)} changes); {done}"
                )
            # The answer to an UPDATE is its rcode and signature, both read from its wire.
            reply = await self._ask(wire, where, sign=True, parse=False)
            if self._rcode(reply, where) != dns.rcode.NOERROR or reply.check.error:
                raise map_failure(reply, where)

    async def aclose(self) -> None:
        self._transport = None


def _serial(rrsets: Sequence[dns.rrset.RRset]) -> str | None:
    """The serial of the first SOA among ``rrsets`` (the zone's change marker), if any."""
    for rrset in rrsets:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return str(rrset[0].serial)
    return None


def _zone_cuts(records: list[dns.rrset.RRset], zone: dns.name.Name) -> frozenset[dns.name.Name]:
    """The zone cuts among a zone's records: the names below its apex that have NS records
    (not those below another cut, which are occluded data of the parent)."""
    named = {r.name for r in records if r.rdtype == dns.rdatatype.NS and r.name != zone}
    return frozenset(
        cut for cut in named if not any(cut != other and cut.is_subdomain(other) for other in named)
    )


def _authoritative(
    records: list[dns.rrset.RRset],
    zone: dns.name.Name,
    wanted: set[dns.name.Name] | None,
    cuts: frozenset[dns.name.Name],
) -> list[dns.rrset.RRset]:
    """Drop what is not the zone's own data: DNSSEC bookkeeping and glue below zone cuts."""
    # Names as lower-case labels from the root (a dnspython Name hashes a character at a
    # time, and every record's name is looked at): a cut is above a name when its labels
    # begin the name's.
    wanted_keys = None if wanted is None else {canonical_order(name) for name in wanted}
    cut_keys = {canonical_order(cut) for cut in cuts}

    def kept(rrset: dns.rrset.RRset) -> bool:
        if rrset.rdtype in _SERVER_MAINTAINED:
            return False
        key = canonical_order(rrset.name)
        if wanted_keys is not None and key not in wanted_keys:
            return False
        return not cut_keys or not any(key[:depth] in cut_keys for depth in range(1, len(key)))

    return [rrset for rrset in records if kept(rrset)]


def _add_change(message: dns.update.UpdateMessage, change: Change) -> None:
    if isinstance(change, Create):
        # What message.absent() adds: an empty RRset of class NONE.
        message.prerequisite.append(
            dns.rrset.RRset(change.name, dns.rdataclass.NONE, change.rdtype)
        )
        _add_rrset(message, change.new)
        return
    message.present(change.name, *change.old)
    message.delete(change.name, change.rdtype)
    if isinstance(change, Update):
        _add_rrset(message, change.new)


def _add_rrset(message: dns.update.UpdateMessage, rrset: dns.rrset.RRset) -> None:
    """Add ``rrset`` to the update section as it is.

    ``message.add`` puts the same records on the wire, but copies them one by one into RRsets
    of their own, hashing every rdata (its wire form) on the way: that was a tenth of a sync.
    A plan's RRsets are already whole and of the zone's class, and each (name, type) occurs
    once in an UPDATE, so there is nothing to merge.
    """
    if rrset.rdclass == message.zone_rdclass and rrset.deleting is None:
        message.update.append(rrset)
    else:
        message.add(rrset.name, rrset)


def _update_message(zone: dns.name.Name, changes: Sequence[Change]) -> dns.update.UpdateMessage:
    message = dns.update.UpdateMessage(zone)
    for change in changes:
        _add_change(message, change)
    return message


def _rendered(message: dns.update.UpdateMessage, budget: int) -> bytes | None:
    """The message in wire format (unsigned), or None when it is larger than ``budget``."""
    return update_wire(message, budget)


def _size(message: dns.update.UpdateMessage) -> int:
    """The message's length in wire format; past the largest message, one byte more than it."""
    wire = _rendered(message, MAX_MESSAGE_SIZE)
    return MAX_MESSAGE_SIZE + 1 if wire is None else len(wire)


def _updates(
    zone: dns.name.Name, changes: Sequence[Change]
) -> list[tuple[dns.update.UpdateMessage, list[Change]]]:
    """The UPDATE messages for ``changes`` (see :func:`_rendered_updates`)."""
    return [(message, part) for message, part, _ in _rendered_updates(zone, changes)]


def _rendered_updates(
    zone: dns.name.Name, changes: Sequence[Change]
) -> list[tuple[dns.update.UpdateMessage, list[Change], bytes]]:
    """The UPDATE messages for ``changes``: one, unless it would pass the 64 KiB limit.

    Past it, changes are packed in order by their size alone, plus room for names that can
    no longer be compressed (pointers reach only the first 16 KiB); a part that still does not
    fit is halved. Each comes with its wire format, rendered once to learn whether it fits
    and then sent as it is.
    """
    budget = MAX_MESSAGE_SIZE - _SIGNATURE_RESERVE
    whole = _update_message(zone, changes)
    wire = _rendered(whole, budget)
    if wire is not None:
        return [(whole, list(changes), wire)]
    base = _size(dns.update.UpdateMessage(zone))
    packed: list[list[Change]] = [[]]
    size = base
    for change in changes:
        cost = _size(_update_message(zone, [change])) - base
        cost += 3 * len(change.name.to_wire() or b"")
        if size + cost > budget and packed[-1]:
            packed.append([])
            size = base
        packed[-1].append(change)
        size += cost
    result: list[tuple[dns.update.UpdateMessage, list[Change], bytes]] = []
    while packed:
        part = packed.pop(0)
        message = _update_message(zone, part)
        wire = _rendered(message, budget)
        if wire is not None:
            result.append((message, part, wire))
        elif len(part) == 1:
            raise ProviderError(
                "this change alone is more than an UPDATE message can carry",
                zone=zone.to_text(),
                name=part[0].name.to_text(),
                rdtype=part[0].rdtype.name,
            )
        else:
            half = len(part) // 2
            packed[0:0] = [part[:half], part[half:]]
    return result


# --- the two variants -----------------------------------------------------------------------


class TsigProvider(Rfc2136Provider[TsigDnsServer]):
    """DNS UPDATE signed with a TSIG key (``@type`` ``Tsig``)."""

    type_name = "Tsig"
    settings_model = TsigDnsServer

    def _signer(self) -> RequestSigner:
        try:
            secret = self.settings.secret_bytes()
        except SecretError as exc:
            raise self._secret_error("key", exc) from None
        key = TsigKey(
            name=dns.name.from_text(self.settings.key_name),
            secret=secret,
            algorithm=self.settings.tsig_algorithm,
        )
        return _TsigSigner(key, lambda: self.clock())


class _TsigSigner:
    def __init__(self, key: TsigKey, clock: Callable[[], float]) -> None:
        self.key = key
        self.clock = clock

    def describe(self) -> str:
        return self.key.describe()

    def sign(self, wire: bytes) -> tuple[bytes, ResponseChecker]:
        signed, mac = self.key.sign(wire, int(self.clock()))
        return signed, self.key.verifier(mac, self.clock)


class Sig0Provider(Rfc2136Provider[Sig0DnsServer]):
    """DNS UPDATE signed with SIG(0) (``@type`` ``Sig0``); queries and transfers go unsigned."""

    type_name = "Sig0"
    settings_model = Sig0DnsServer
    sign_queries = False
    signed_answers = False

    def _signer(self) -> RequestSigner:
        try:
            sig0: Any = importlib.import_module("dnsauto_rfc2136.sig0")
        except ImportError as exc:
            raise ProviderError(
                f"SIG(0) signing not available: {exc}", provider=self.context.server_id
            ) from exc
        try:
            private_key = self.settings.key.resolve()
        except SecretError as exc:
            raise self._secret_error("key", exc) from None
        try:
            sig0.load_private_key(private_key, self.settings.sig0_algorithm)
        except ValueError as exc:
            raise self._secret_error("key", exc) from None
        return _Sig0Signer(sig0, self.settings, private_key, lambda: self.clock())


class _Sig0Signer:
    def __init__(
        self, sig0: Any, settings: Sig0DnsServer, private_key: str, clock: Callable[[], float]
    ) -> None:
        self.sig0 = sig0
        self.settings = settings
        self.private_key = private_key
        self.signer = dns.name.from_text(settings.signer_name)
        self.clock = clock

    def describe(self) -> str:
        return f"SIG(0) key of {self.signer.to_text()} ({self.settings.sig0_algorithm})"

    def sign(self, wire: bytes) -> tuple[bytes, ResponseChecker]:
        inception, expiration = self.sig0.validity_window(int(self.clock()))
        signed: bytes = self.sig0.sign_message(
            wire,
            signer=self.signer,
            private_key_pem=self.private_key,
            algorithm=self.settings.sig0_algorithm,
            inception=inception,
            expiration=expiration,
        )
        return signed, _Sig0Answers()


class _Sig0Answers:
    """Answers to SIG(0)-signed requests are not signed by the servers we know."""

    def check(self, wire: bytes, *, multi: bool = False) -> TsigCheck:
        return TsigCheck(signed=False)
