"""Sending signed DNS messages to one server: UDP or TCP as configured, zone transfers, retries.

``protocol = "udp"`` sends over UDP and moves to TCP only when an answer comes back truncated
or a request is too large for one unfragmented datagram (as ``nsupdate`` does);
``protocol = "tcp"`` always uses TCP. SERVFAIL is retried with exponential backoff, a bounded
number of times. Failures are raised as they come (``OSError``, ``dns.exception.Timeout``,
:class:`~dnsauto_rfc2136.tsig.TsigFailure`, ...); the provider maps them in one place,
:func:`dnsauto_rfc2136.errors.map_failure`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnsauto.plugin.changes import rrset_of
from dnsauto_rfc2136.tsig import TsigCheck
from dnsauto_rfc2136.wire import AnswerRecord, answer_records, query_wire, rcode, slim

__all__ = [
    "MAX_MESSAGE_SIZE",
    "UDP_PAYLOAD",
    "AnswerMismatch",
    "Endpoint",
    "Reply",
    "RequestSigner",
    "ResponseChecker",
    "RetryPolicy",
    "TransferError",
    "Transport",
]

UDP_PAYLOAD = 1232
"""The largest datagram sent or invited (EDNS); 1232 bytes avoid IP fragmentation."""
MAX_MESSAGE_SIZE = 65535
"""The largest DNS message (over TCP)."""


class ResponseChecker(Protocol):
    """Checks the signature of the answers to one signed request."""

    def check(self, wire: bytes, *, multi: bool = False) -> TsigCheck: ...


class RequestSigner(Protocol):
    """Signs a request in wire format (TSIG or SIG(0))."""

    def describe(self) -> str: ...

    def sign(self, wire: bytes) -> tuple[bytes, ResponseChecker]: ...


class _Unchecked:
    def check(self, wire: bytes, *, multi: bool = False) -> TsigCheck:
        return TsigCheck(signed=False)


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens and how to reach it."""

    host: str
    port: int
    protocol: Literal["udp", "tcp"]
    timeout: float
    """Seconds allowed for one exchange (connect, send, and every answer)."""

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently SERVFAIL is retried: ``base * 2**n`` seconds, capped."""

    attempts: int = 4
    base: float = 0.25
    cap: float = 4.0

    def delay(self, attempt: int) -> float:
        return float(min(self.cap, self.base * 2**attempt))


@dataclass(frozen=True)
class Reply:
    """An answer, with how it came and what its signature said. ``message``: the answer
    parsed by dnspython, at its first use (:meth:`Transport.exchange` parses it at once unless
    asked not to; an SOA at a zone's apex is read from ``wire``: :func:`wire.apex_serial`)."""

    wire: bytes
    protocol: Literal["udp", "tcp"]
    check: TsigCheck
    sent_at: float
    """Our clock when the request was signed."""
    attempts: int = 1

    @functools.cached_property
    def message(self) -> dns.message.Message:
        # keyring=False: the signature is checked by the signer's checker, not by dnspython,
        # over the whole wire; the sections no one reads are not parsed (wire.slim).
        return dns.message.from_wire(slim(self.wire), keyring=False, ignore_trailing=True)

    def rcode(self) -> dns.rcode.Rcode:
        if "message" not in self.__dict__:  # not parsed yet: read from the wire
            with contextlib.suppress(ValueError):  # else dnspython says what is wrong
                return dns.rcode.Rcode.make(rcode(self.wire))
        return self.message.rcode()


class AnswerMismatch(Exception):
    """An answer over TCP does not belong to the query (another id)."""


class TransferError(Exception):
    """A zone transfer was refused or broke off; ``rcode`` says how, if the server said."""

    def __init__(self, reason: str, rcode: dns.rcode.Rcode | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rcode = rcode

    def __str__(self) -> str:
        return self.reason


@dataclass
class Transport:
    """Sends messages to one :class:`Endpoint`, signed by an optional :class:`RequestSigner`."""

    endpoint: Endpoint
    signer: RequestSigner | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], float] = time.time
    messages_sent: int = 0
    last_protocol: Literal["udp", "tcp"] | None = None
    """The protocol of the last message sent (for error messages)."""

    async def exchange(
        self, request: dns.message.Message | bytes, *, sign: bool = True, parse: bool = True
    ) -> Reply:
        """Send ``request`` (a message, or one already rendered, unsigned) and return the
        answer; retries SERVFAIL with backoff. Without ``parse`` the answer is parsed when the
        caller first reads ``message`` (its errors are then the caller's to map).
        """
        wire = request if isinstance(request, bytes) else request.to_wire()
        attempt = 0
        while True:
            reply = await self._exchange_once(wire, sign=sign)
            if parse:
                reply.message  # noqa: B018 - parsed here, where its errors are the exchange's
            attempt += 1
            if reply.rcode() != dns.rcode.SERVFAIL or attempt >= self.retry.attempts:
                return replace(reply, attempts=attempt) if attempt > 1 else reply
            await asyncio.sleep(self.retry.delay(attempt - 1))

    def _sending(self, protocol: Literal["udp", "tcp"]) -> None:
        self.messages_sent += 1
        self.last_protocol = protocol

    def _sign(self, wire: bytes, sign: bool) -> tuple[bytes, ResponseChecker]:
        if sign and self.signer is not None:
            return self.signer.sign(wire)
        return wire, _Unchecked()

    async def _exchange_once(self, unsigned: bytes, *, sign: bool) -> Reply:
        sent_at = self.clock()
        wire, checker = self._sign(unsigned, sign)
        if self.endpoint.protocol == "udp" and len(wire) <= UDP_PAYLOAD:
            answer = _belonging(await self._udp(wire), unsigned)
            if not _flags(answer) & dns.flags.TC:
                return Reply(answer, "udp", checker.check(answer), sent_at)
            sent_at = self.clock()
            wire, checker = self._sign(unsigned, sign)
        answer = _belonging(await self._tcp(wire), unsigned)
        return Reply(answer, "tcp", checker.check(answer), sent_at)

    def _destination(self) -> tuple[int, tuple[str, int]]:
        return dns.inet.af_for_address(self.endpoint.host), (self.endpoint.host, self.endpoint.port)

    async def _udp(self, wire: bytes) -> bytes:
        """The answer to ``wire`` over UDP, from a socket of its own connected to the server
        (the kernel drops datagrams from anyone else). A plain non-blocking socket: dnspython's
        backend makes an asyncio transport and protocol per socket, half of a question's cost
        at a re-sync's one question per zone."""
        af, destination = self._destination()
        loop = asyncio.get_running_loop()
        query_id = wire[:2]
        with socket.socket(af, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect(destination)
            self._sending("udp")
            async with asyncio.timeout(self.endpoint.timeout):
                await loop.sock_sendall(sock, wire)
                while True:
                    data = await loop.sock_recv(sock, 65535)
                    # A stray datagram (an old answer, another id) is ignored, as dnspython does.
                    if len(data) >= 12 and data[:2] == query_id:
                        return data

    async def _tcp(self, wire: bytes) -> bytes:
        async with asyncio.timeout(self.endpoint.timeout), self._connection() as connection:
            self._sending("tcp")
            await connection.send(wire)
            return await connection.read_message()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[_TcpConnection]:
        af, destination = self._destination()
        with socket.socket(af, socket.SOCK_STREAM) as sock:
            sock.setblocking(False)
            connection = _TcpConnection(sock, asyncio.get_running_loop())
            await connection.loop.sock_connect(sock, destination)
            yield connection

    async def transfer(self, zone: dns.name.Name, *, sign: bool = True) -> list[dns.rrset.RRset]:
        """The zone's records by AXFR over TCP, without the closing SOA.

        Raises :class:`TransferError` when the server refuses or the stream breaks off.
        """
        wire, checker = self._sign(query_wire(zone, dns.rdatatype.AXFR, None), sign)
        async with asyncio.timeout(self.endpoint.timeout), self._connection() as connection:
            self._sending("tcp")
            await connection.send(wire)
            return await self._read_transfer(connection, wire[:2], checker, sign=sign)

    async def _read_transfer(
        self, connection: _TcpConnection, query_id: bytes, checker: ResponseChecker, *, sign: bool
    ) -> list[dns.rrset.RRset]:
        """The RRsets of a transfer's answers, read up to the closing SOA."""
        parts: dict[_RRsetKey, list[AnswerRecord]] = {}
        soa_seen = 0
        first = True
        while soa_seen < 2:
            answer = await connection.read_message()
            if answer[:2] != query_id:
                raise TransferError("the answer's id is not the query's")
            check = checker.check(answer, multi=not first)
            answer_rcode = dns.rcode.Rcode(rcode(answer))
            if answer_rcode != dns.rcode.NOERROR or check.error:
                raise TransferError(
                    f"the server answered the zone transfer with {dns.rcode.to_text(answer_rcode)}",
                    answer_rcode,
                )
            if first and sign and self.signer is not None and not check.signed:
                raise TransferError("the zone transfer's first answer is not signed")
            answers = answer_records(answer)
            if first and not answers:
                raise TransferError("the server answered the zone transfer with no records")
            first = False
            for record in answers:
                if record.rdata.rdtype == dns.rdatatype.SOA:
                    soa_seen += 1
                    if soa_seen == 2:
                        break
                key = (
                    tuple(label.lower() for label in record.owner),
                    record.rdata.rdtype,
                    record.rdata.covers(),
                )
                parts.setdefault(key, []).append(record)
            if soa_seen == 0:
                raise TransferError("the zone transfer does not start with the zone's SOA")
        return [_rrset(records) for records in parts.values()]


_RRsetKey = tuple[tuple[bytes, ...], int, int]
"""An RRset's lower-case owner labels, type and the type its signatures cover."""


def _rrset(records: list[AnswerRecord]) -> dns.rrset.RRset:
    """One RRset of a transfer's records of one (name, type, covered type), at the lowest of
    their TTLs."""
    return rrset_of(
        dns.name.Name(records[0].owner),
        min(record.ttl for record in records),
        [record.rdata for record in records],
    )


def _belonging(answer: bytes, query: bytes) -> bytes:
    """``answer``, once it is known to be an answer to ``query`` (its id)."""
    if len(answer) < 12:
        raise dns.message.ShortHeader("the answer is shorter than a DNS header")  # type: ignore[no-untyped-call]
    if answer[:2] != query[:2]:
        (answer_id,), (query_id,) = (
            struct.unpack_from("!H", answer),
            struct.unpack_from("!H", query),
        )
        raise AnswerMismatch(f"answer has id {answer_id}, the query had {query_id}")
    return answer


def _flags(answer: bytes) -> int:
    return int(struct.unpack_from("!H", answer, 2)[0])


class _TcpConnection:
    """A plain non-blocking TCP socket to the server, its messages length-prefixed (RFC 1035
    4.2.2) and read through one buffer. dnspython's asyncio backend wraps each connection in
    asyncio streams and each read in a ``wait_for`` (a timer and a task): 4 % of a publish of
    many zones, which opens two connections a zone. The caller's ``asyncio.timeout`` bounds
    the whole exchange."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.sock = sock
        self.loop = loop
        self._buffer = bytearray()

    async def send(self, wire: bytes) -> None:
        await self.loop.sock_sendall(self.sock, struct.pack("!H", len(wire)) + wire)

    async def read_message(self) -> bytes:
        (length,) = struct.unpack("!H", await self._exactly(2))
        return await self._exactly(length)

    async def _exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = await self.loop.sock_recv(self.sock, max(65535, count - len(self._buffer)))
            if not chunk:
                raise EOFError("the server closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data
