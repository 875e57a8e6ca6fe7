"""A loopback DNS proxy that counts what passes on the wire, by protocol and opcode.

It forwards UDP datagrams and TCP messages to a real server unchanged, so the tests can check
which protocol the provider really used, and it can answer the next UPDATEs with SERVFAIL
itself, to show that the provider retries, or hold the QUERYs (:meth:`WireProxy.hold_queries`),
so a test acts while a propagation check waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field

import dns.opcode
import dns.rcode

HOST = "127.0.0.1"


def _opcode(wire: bytes) -> str:
    (flags,) = struct.unpack("!H", wire[2:4])
    return dns.opcode.to_text(dns.opcode.from_flags(flags))


def _servfail(wire: bytes) -> bytes:
    (flags,) = struct.unpack("!H", wire[2:4])
    flags = 0x8000 | (flags & 0x7800) | dns.rcode.SERVFAIL
    return wire[:2] + struct.pack("!HHHHH", flags, 0, 0, 0, 0)


@dataclass
class WireProxy:
    """Counts ``(protocol, opcode)`` of every message sent to the server through it."""

    upstream: tuple[str, int]
    port: int = 0
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    servfail_updates: int = 0
    """How many of the next UPDATEs the proxy answers with SERVFAIL itself."""
    held: int = 0
    """How many QUERYs arrived while the queries were held."""
    _open: asyncio.Event = field(default_factory=asyncio.Event)
    _udp: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def count(self, protocol: str, opcode: str | None = None) -> int:
        return sum(n for (p, o), n in self.seen.items() if p == protocol and opcode in (None, o))

    def __post_init__(self) -> None:
        self._open.set()

    def hold_queries(self) -> None:
        """Forward no QUERY from now on (UPDATEs still pass) until :meth:`release_queries`."""
        self._open.clear()

    def release_queries(self) -> None:
        """Forward the held QUERYs and every one after them."""
        self._open.set()

    async def _gate(self, wire: bytes) -> None:
        if _opcode(wire) == "QUERY" and not self._open.is_set():
            self.held += 1
            await self._open.wait()

    def _intercept(self, protocol: str, wire: bytes) -> bytes | None:
        opcode = _opcode(wire)
        self.seen[(protocol, opcode)] += 1
        if opcode == "UPDATE" and self.servfail_updates > 0:
            self.servfail_updates -= 1
            return _servfail(wire)
        return None

    async def start(self) -> WireProxy:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpSide(self), local_addr=(HOST, 0), family=socket.AF_INET
            )
            port = udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, HOST, port)
            except OSError:
                udp.close()
                continue
            self._udp, self.port = udp, port
            return self
        raise RuntimeError("no port free for both UDP and TCP")

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        for writer in list(self._writers):
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward_udp(self, wire: bytes, client: tuple[str, int]) -> None:
        await self._gate(wire)
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[bytes] = loop.create_future()

        class Upstream(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                if not answered.done():
                    answered.set_result(data)

        transport, _ = await loop.create_datagram_endpoint(
            Upstream, remote_addr=self.upstream, family=socket.AF_INET
        )
        try:
            transport.sendto(wire)
            data = await asyncio.wait_for(answered, 10)
        finally:
            transport.close()
        if self._udp is not None:
            self._udp.sendto(data, client)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._writers.add(writer)
        try:
            while True:
                try:
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    wire = await reader.readexactly(length)
                except asyncio.IncompleteReadError:
                    return
                answer = self._intercept("tcp", wire)
                if answer is not None:
                    writer.write(struct.pack("!H", len(answer)) + answer)
                    await writer.drain()
                    continue
                await self._gate(wire)
                if upstream is None:
                    upstream = await asyncio.open_connection(*self.upstream)
                    self._writers.add(upstream[1])
                    self._spawn(_pipe(upstream[0], writer))
                upstream[1].write(struct.pack("!H", length) + wire)
                await upstream[1].drain()
        finally:
            if upstream is not None:
                upstream[1].close()
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


class _UdpSide(asyncio.DatagramProtocol):
    def __init__(self, proxy: WireProxy) -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = self.proxy._intercept("udp", data)
        if answer is not None:
            if self.proxy._udp is not None:
                self.proxy._udp.sendto(answer, addr)
            return
        self.proxy._spawn(self.proxy._forward_udp(data, addr))
