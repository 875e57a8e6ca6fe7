"""A loopback authoritative nameserver that answers from what a test says is published.

A cloud provider's own nameservers cannot be asked from the tests, so a plugin's end-to-end
test points ``[daemon.dns] authoritativeServers`` at this server instead and serves what its
fake (or moto) holds, or held, through ``published``: a callback returning the RRsets the
nameservers serve right now. It answers UDP and TCP on one port of 127.0.0.1, authoritatively
(AA) for ``zone``: the RRset asked for, a CNAME at the name, NODATA or NXDOMAIN (with the SOA
when ``published`` gives one), REFUSED outside the zone; a UDP answer larger than the client's
EDNS payload (512 without EDNS) is truncated (TC) so the client asks again over TCP. Each query
is recorded, with the ``time.monotonic()`` of its arrival, before ``published`` is called; a
query ``published`` fails on is answered SERVFAIL, and ``stop()`` raises what it raised.

It runs on a thread of its own, so ``published`` may block (read moto, say) and the server
works the same under an event loop or without one::

    with AuthoritativeServer("example.com.", lambda: fake_rrsets()) as server:
        config = f'[daemon.dns]\\nauthoritativeServers = ["{server.address}"]'
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["AuthoritativeServer", "ReceivedQuery"]

HOST = "127.0.0.1"
Published = Callable[[], Iterable[dns.rrset.RRset]]


@dataclass(frozen=True)
class ReceivedQuery:
    """One question the server was asked."""

    at: float
    """``time.monotonic()`` when the query arrived."""
    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    transport: str
    """``"udp"`` or ``"tcp"``."""


class AuthoritativeServer:
    """Serves ``zone`` from ``published()``; ``address`` is ``127.0.0.1:PORT`` once started."""

    def __init__(self, zone: dns.name.Name | str, published: Published) -> None:
        self.zone = zone if isinstance(zone, dns.name.Name) else dns.name.from_text(zone)
        self.published = published
        self.port = 0
        self._queries: list[ReceivedQuery] = []
        self._lock = threading.Lock()
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._stopping = False
        self.errors: list[Exception] = []
        """What ``published`` raised; each such query was answered SERVFAIL, and ``stop()``
        raises the first."""

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def queries(self) -> list[ReceivedQuery]:
        """Every query received so far, in order of arrival."""
        with self._lock:
            return list(self._queries)

    def start(self) -> AuthoritativeServer:
        for _ in range(20):
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((HOST, 0))
            port = tcp.getsockname()[1]
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp.bind((HOST, port))
            except OSError:
                tcp.close()
                udp.close()
                continue
            tcp.listen(16)
            self._tcp, self._udp, self.port = tcp, udp, port
            self._spawn(self._serve)
            return self
        raise RuntimeError("no port free for both UDP and TCP")

    def stop(self) -> None:
        self._stopping = True
        self._wake_w.send(b"x")
        if self._threads:
            self._threads[0].join()  # the accepting thread: no connection starts after it
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in self._threads[1:]:
            thread.join()
        for sock in (self._udp, self._tcp, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        if self.errors:
            raise self.errors[0]

    def __enter__(self) -> AuthoritativeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- answering --------------------------------------------------------------------------

    def answer(self, query: dns.message.Message, transport: str = "udp") -> dns.message.Message:
        """The response to ``query``, the query recorded first."""
        response = dns.message.make_response(query)
        response.flags &= ~dns.flags.RA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        with self._lock:
            self._queries.append(
                ReceivedQuery(time.monotonic(), question.name, question.rdtype, transport)
            )
        if not question.name.is_subdomain(self.zone) or question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        rrsets = list(self.published())
        at_name = [r for r in rrsets if r.name == question.name]
        wanted = question.rdtype
        found = [r for r in at_name if wanted in (r.rdtype, dns.rdatatype.ANY)]
        if not found:
            found = [r for r in at_name if r.rdtype == dns.rdatatype.CNAME]
        if found:
            response.answer.extend(found)
            return response
        below = any(r.name.is_subdomain(question.name) for r in rrsets)
        if not below:
            response.set_rcode(dns.rcode.NXDOMAIN)
        soa = [r for r in rrsets if r.name == self.zone and r.rdtype == dns.rdatatype.SOA]
        response.authority.extend(soa)
        return response

    def _wire(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        try:
            response = self.answer(query, transport)
        except Exception as exc:  # a test's callback failed: make it seen, keep serving
            self.errors.append(exc)
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        if transport == "tcp":
            return response.to_wire(max_size=65535)
        limit = max(512, query.payload) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags = response.flags | dns.flags.TC
            return truncated.to_wire()

    # --- sockets ----------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _serve(self) -> None:
        assert self._udp is not None
        assert self._tcp is not None
        with selectors.DefaultSelector() as selector:
            for sock in (self._udp, self._tcp, self._wake_r):
                selector.register(sock, selectors.EVENT_READ)
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fileobj is self._udp:
                        data, client = self._udp.recvfrom(65535)
                        reply = self._wire(data, "udp")
                        if reply is not None:
                            self._udp.sendto(reply, client)
                    elif key.fileobj is self._tcp:
                        connection, _ = self._tcp.accept()
                        with self._lock:
                            self._connections.add(connection)
                        self._spawn(self._serve_tcp, connection)

    def _serve_tcp(self, connection: socket.socket) -> None:
        try:
            while not self._stopping:
                head = _read(connection, 2)
                if head is None:
                    return
                wire = _read(connection, struct.unpack("!H", head)[0])
                if wire is None:
                    return
                reply = self._wire(wire, "tcp")
                if reply is None:
                    return
                connection.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()


def _read(connection: socket.socket, size: int) -> bytes | None:
    """Exactly ``size`` bytes, or None at the end of the stream."""
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
