"""Every failure names what failed and where; each is produced here against a real server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.tsig
import dns.update
import pytest
from dnsauto_rfc2136.errors import RCODE_ERRORS, TSIG_ERRORS, Where, map_failure
from dnsauto_rfc2136.provider import Rfc2136Provider
from dnsauto_rfc2136.transport import AnswerMismatch, Reply, TransferError
from dnsauto_rfc2136.tsig import TsigCheck, TsigFailure
from rfc2136_testing import tsig_provider

from dnsauto.plugin import (
    AuthenticationError,
    ConflictError,
    Create,
    ProviderError,
    TransientError,
    Zone,
    ZoneNotFoundError,
)
from dnsauto.testing import make_rrset
from dnsauto.testing.servers import ZONE, RunningServer

ZONE_NAME = dns.name.from_text(ZONE)
WHERE = Where(
    provider="primary",
    server="192.0.2.1:53",
    protocol="udp",
    timeout=30,
    credential="TSIG key k. (hmac-sha256)",
    operation="UPDATE",
    signed_answers=True,
    zone="example.test.",
)


def change(label: str) -> Create:
    return Create(make_rrset(dns.name.from_text(label, ZONE_NAME), "TXT", 300, '"x"'))


def reply(rcode: int, *, tsig_error: int = 0, signed: bool = True) -> Reply:
    message = dns.message.make_response(dns.update.UpdateMessage(ZONE))
    message.set_rcode(dns.rcode.Rcode.make(rcode))
    check = TsigCheck(signed=signed, error=tsig_error, server_time=1_000_000)
    return Reply(message.to_wire(), "udp", check, sent_at=1_000_000 - 3600)


# --- the mapping, one function ------------------------------------------------------------------


def test_every_rcode_is_mapped_to_a_specific_error() -> None:
    unmapped = [r.name for r in dns.rcode.Rcode if r != dns.rcode.NOERROR and r not in RCODE_ERRORS]
    assert unmapped == []
    for rcode in RCODE_ERRORS:
        error = map_failure(reply(rcode), WHERE)
        assert isinstance(error, ProviderError)
        assert "192.0.2.1:53" in str(error)
        assert "rcode" not in error.message.split("[")[0], rcode


@pytest.mark.parametrize(
    ("rcode", "expected"),
    [
        (dns.rcode.REFUSED, AuthenticationError),
        (dns.rcode.NOTAUTH, ZoneNotFoundError),
        (dns.rcode.NOTZONE, ProviderError),
        (dns.rcode.YXRRSET, ConflictError),
        (dns.rcode.NXRRSET, ConflictError),
        (dns.rcode.YXDOMAIN, ConflictError),
        (dns.rcode.NXDOMAIN, ConflictError),
        (dns.rcode.SERVFAIL, TransientError),
        (dns.rcode.FORMERR, ProviderError),
        (dns.rcode.NOTIMP, ProviderError),
    ],
)
def test_rcode_maps_to_its_error_class(rcode: int, expected: type[ProviderError]) -> None:
    assert type(map_failure(reply(rcode), WHERE)) is expected


@pytest.mark.parametrize("tsig_error", sorted(TSIG_ERRORS))
def test_every_tsig_error_is_an_authentication_error_naming_the_key(tsig_error: int) -> None:
    error = map_failure(reply(dns.rcode.NOTAUTH, tsig_error=tsig_error, signed=False), WHERE)
    assert isinstance(error, AuthenticationError)
    assert "TSIG key k. (hmac-sha256)" in str(error)
    assert dns.rcode.to_text(tsig_error) in str(error) or "BADSIG" in str(error)


def test_badtime_names_the_clock_difference() -> None:
    error = map_failure(reply(dns.rcode.NOTAUTH, tsig_error=dns.rcode.BADTIME), WHERE)
    assert "+3600 s" in str(error)


def test_unsigned_refused_to_a_signed_request_is_a_key_refusal() -> None:
    error = map_failure(reply(dns.rcode.REFUSED, signed=False), WHERE)
    assert isinstance(error, AuthenticationError)
    assert "unsigned REFUSED" in str(error)


@pytest.mark.parametrize(
    ("exception", "expected", "words"),
    [
        (dns.exception.Timeout(timeout=30), TransientError, "no answer from 192.0.2.1:53"),
        (TimeoutError(), TransientError, "within 30 s"),
        (ConnectionRefusedError(111, "Connection refused"), TransientError, "unreachable"),
        (OSError(101, "Network is unreachable"), TransientError, "Network is unreachable"),
        (EOFError("EOF"), TransientError, "closed the udp connection"),
        (ConnectionResetError(104, "reset"), TransientError, "closed"),
        (
            dns.exception.FormError("response requires a TSIG but does not have one"),
            AuthenticationError,
            "unsigned answer",
        ),
        (dns.exception.FormError("bad"), ProviderError, "malformed"),
        (dns.tsig.PeerBadKey(), AuthenticationError, "TSIG key k."),
        (dns.tsig.BadSignature(), AuthenticationError, "TSIG key k."),
        (
            TsigFailure("the answer's signature does not verify", kind="badsig"),
            AuthenticationError,
            "verify",
        ),
        (AnswerMismatch("answer has id 1"), ProviderError, "malformed"),
        (TransferError("refused", dns.rcode.REFUSED), AuthenticationError, "zone transfers"),
        (TransferError("broke off"), ProviderError, "zone transfer failed"),
    ],
)
def test_every_exception_is_mapped(
    exception: BaseException, expected: type[ProviderError], words: str
) -> None:
    error = map_failure(exception, WHERE)
    assert type(error) is expected
    assert words in str(error)
    assert "(provider primary, zone example.test.)" in str(error)


@pytest.mark.parametrize(
    ("flags", "read"),
    [
        # an SOA answer parsed only once the apex SOA's fast path could not read it
        pytest.param(0, Rfc2136Provider._parsed, id="a query's answer parsed late"),
        # an UPDATE's answer, whose rcode is read from its wire
        pytest.param(0x2800, Rfc2136Provider._rcode, id="an update's rcode"),
    ],
)
def test_an_answer_that_cannot_be_read_is_malformed_naming_the_protocol_it_came_over(
    flags: int, read: Callable[[Reply, Where], object]
) -> None:
    # one question whose name starts with a label type that does not exist, come over TCP
    # (UDP's answer was truncated)
    malformed = struct.pack("!6H", 0, flags, 1, 0, 0, 0) + b"\x7f"
    answer = Reply(malformed, "tcp", TsigCheck(signed=flags != 0), sent_at=0.0)
    with pytest.raises(ProviderError, match="malformed") as caught:
        read(answer, WHERE)
    assert "over tcp" in str(caught.value)


# --- produced against real servers ------------------------------------------------------------


@pytest.fixture
def silent_udp() -> Iterator[socket.socket]:
    """A UDP socket that takes datagrams and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def received(sock: socket.socket) -> int:
    """How many datagrams wait at ``sock``."""
    sock.setblocking(False)
    count = 0
    while True:
        try:
            sock.recv(65535)
        except BlockingIOError:
            return count
        count += 1


@pytest.fixture
def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.servers
async def test_server_that_never_answers_is_a_timeout_naming_host_port_and_seconds(
    bind_server: RunningServer, silent_udp: socket.socket
) -> None:
    provider = tsig_provider(bind_server, timeout="300ms")
    port = silent_udp.getsockname()[1]
    provider.endpoint = replace(provider.endpoint, port=port)
    with pytest.raises(TransientError) as caught:
        # Far below the 30 s default: only the configured 300 ms can end the wait in time.
        await asyncio.wait_for(provider.apply(Zone(ZONE_NAME), [change("err-timeout")]), 15)
    assert f"no answer from 127.0.0.1:{port} over udp within 0.3 s" in str(caught.value)
    assert received(silent_udp) == 1, "one question, given up after the timeout, not repeated"


@pytest.mark.servers
async def test_closed_tcp_port_is_unreachable_naming_host_and_port(
    bind_server: RunningServer, closed_port: int
) -> None:
    provider = tsig_provider(bind_server, protocol="tcp")
    provider.endpoint = replace(provider.endpoint, port=closed_port)
    with pytest.raises(TransientError) as caught:
        await provider.find_zone(ZONE_NAME)
    assert f"127.0.0.1:{closed_port} is unreachable over tcp" in str(caught.value)


@pytest.mark.servers
async def test_closed_udp_port_is_unreachable_naming_host_and_port(
    bind_server: RunningServer, closed_port: int
) -> None:
    provider = tsig_provider(bind_server, protocol="udp")
    provider.endpoint = replace(provider.endpoint, port=closed_port)
    with pytest.raises(TransientError, match=f"127.0.0.1:{closed_port}"):
        await provider.find_zone(ZONE_NAME)


@pytest.mark.servers
async def test_key_not_allowed_to_update_is_refused_naming_zone_and_key(
    dns_server: RunningServer,
) -> None:
    provider = tsig_provider(dns_server, key=dns_server.readonly_key)
    with pytest.raises(AuthenticationError) as caught:
        await provider.apply(Zone(ZONE_NAME), [change("err-readonly")])
    text = str(caught.value)
    assert "readonly-hmac-sha256." in text
    # Knot says BADKEY when its ACL refuses the key; BIND and PowerDNS say REFUSED.
    assert ("BADKEY" if dns_server.kind == "knot" else "REFUSED for") in text.replace(
        "REFUSED the request", "REFUSED for"
    )
    assert "example.test." in text


@pytest.mark.servers
async def test_update_of_a_zone_the_server_does_not_serve_is_notauth_naming_the_zone(
    dns_server: RunningServer,
) -> None:
    provider = tsig_provider(dns_server)
    other = Zone(dns.name.from_text("other.test."))
    rrset = make_rrset(dns.name.from_text("a.other.test."), "TXT", 300, '"x"')
    with pytest.raises(
        ZoneNotFoundError, match=r"not authoritative for zone other\.test\. \(NOTAUTH\)"
    ):
        await provider.apply(other, [Create(rrset)])


@pytest.mark.servers
async def test_name_outside_the_zone_is_notzone(dns_server: RunningServer) -> None:
    provider = tsig_provider(dns_server)
    rrset = make_rrset(dns.name.from_text("a.other.test."), "TXT", 300, '"x"')
    with pytest.raises(ProviderError, match="NOTZONE") as caught:
        await provider.apply(Zone(ZONE_NAME), [Create(rrset)])
    assert caught.value.zone == ZONE
    assert caught.value.name == "a.other.test."


@pytest.mark.servers
async def test_unknown_key_name_is_badkey_naming_key_and_algorithm(
    dns_server: RunningServer,
) -> None:
    key = replace(dns_server.key("hmac-sha256"), name="no-such-key.")
    provider = tsig_provider(dns_server, key=key)
    with pytest.raises(AuthenticationError) as caught:
        await provider.apply(Zone(ZONE_NAME), [change("err-badkey")])
    text = str(caught.value)
    assert "TSIG key no-such-key. (hmac-sha256)" in text
    # PowerDNS does not say BADKEY: it answers a failed TSIG check with an unsigned REFUSED.
    assert ("unsigned REFUSED" if dns_server.kind == "pdns" else "BADKEY") in text


@pytest.mark.servers
async def test_wrong_secret_is_badsig_naming_the_key(dns_server: RunningServer) -> None:
    key = replace(dns_server.key("hmac-sha256"), secret=base64.b64encode(b"w" * 32).decode())
    provider = tsig_provider(dns_server, key=key)
    with pytest.raises(AuthenticationError) as caught:
        await provider.apply(Zone(ZONE_NAME), [change("err-badsig")])
    text = str(caught.value)
    assert "TSIG key key-hmac-sha256." in text
    assert ("unsigned REFUSED" if dns_server.kind == "pdns" else "BADSIG") in text


@pytest.mark.servers
async def test_skewed_clock_is_badtime_naming_the_difference(dns_server: RunningServer) -> None:
    provider = tsig_provider(dns_server)
    provider.clock = lambda: time.time() - 3600
    with pytest.raises(AuthenticationError) as caught:
        await provider.apply(Zone(ZONE_NAME), [change("err-badtime")])
    text = str(caught.value)
    if dns_server.kind == "pdns":
        assert "unsigned REFUSED" in text
        assert "clocks" in text
    else:
        assert "BADTIME" in text
        assert "clock is +3600 s from ours" in text or "clock is +3599 s from ours" in text


@pytest.mark.servers
async def test_zone_not_found_names_the_name_and_the_server(dns_server: RunningServer) -> None:
    provider = tsig_provider(dns_server)
    with pytest.raises(ZoneNotFoundError) as caught:
        await provider.find_zone(dns.name.from_text("mail.nowhere.invalid."))
    text = str(caught.value)
    assert "mail.nowhere.invalid." in text
    assert f"127.0.0.1:{dns_server.port}" in text


@pytest.mark.servers
async def test_bad_key_during_zone_discovery_is_an_authentication_error(
    dns_server: RunningServer,
) -> None:
    key = replace(dns_server.key("hmac-sha256"), secret=base64.b64encode(b"w" * 32).decode())
    provider = tsig_provider(dns_server, key=key)
    with pytest.raises(AuthenticationError, match="key-hmac-sha256"):
        await provider.find_zone(ZONE_NAME)


@pytest.mark.servers
async def test_powerdns_unsigned_refusal_is_what_dnspython_calls_a_form_error(
    pdns_server: RunningServer,
) -> None:
    """The fact behind the mapping: dnspython itself raises FormError for PowerDNS's answer."""
    key = pdns_server.key("hmac-sha256")
    update = dns.update.UpdateMessage(ZONE)
    update.add("err-formerror", 300, "TXT", '"x"')
    update.use_tsig(dns.tsig.Key(key.name, base64.b64encode(b"w" * 32).decode(), "hmac-sha256"))
    with pytest.raises(dns.exception.FormError, match="requires a TSIG") as caught:
        await dns.asyncquery.udp(update, pdns_server.host, port=pdns_server.port, timeout=5)
    assert isinstance(map_failure(caught.value, WHERE), AuthenticationError)


@pytest.mark.servers
async def test_tcp_server_that_accepts_and_never_answers_is_a_timeout(
    bind_server: RunningServer,
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        provider = tsig_provider(bind_server, protocol="tcp", timeout="300ms")
        provider.endpoint = replace(provider.endpoint, port=port)
        with pytest.raises(TransientError, match=r"over tcp within 0\.3 s"):
            await provider.find_zone(ZONE_NAME)
    finally:
        for writer in held:
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()


async def test_a_tcp_server_that_closes_in_the_middle_of_its_answer_is_a_transient_error(
    bind_server: RunningServer,
) -> None:
    async def half_an_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        query = await reader.readexactly(length)
        writer.write(struct.pack("!H", 100) + query[:2] + b"\x84\x00")  # 4 of 100 bytes
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(half_an_answer, "127.0.0.1", 0)
    try:
        provider = tsig_provider(bind_server, protocol="tcp")
        provider.endpoint = replace(provider.endpoint, port=server.sockets[0].getsockname()[1])
        with pytest.raises(TransientError, match=r"closed the tcp connection before answering"):
            await provider.find_zone(ZONE_NAME)
    finally:
        server.close()
        await server.wait_closed()


async def test_answers_that_arrive_a_byte_at_a_time_are_read_whole(
    bind_server: RunningServer,
) -> None:
    """TCP gives no message boundaries: a question's answer and a transfer's many messages,
    relayed from BIND in one-byte segments, are read as BIND sent them."""

    relaying: set[asyncio.Task[None]] = set()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        relaying.add(asyncio.current_task())  # type: ignore[arg-type]
        upstream_reader, upstream = await asyncio.open_connection(
            bind_server.host, bind_server.port
        )
        try:
            upstream.write(await reader.read(65535))
            await upstream.drain()
            while data := await upstream_reader.read(65535):
                for index in range(len(data)):
                    writer.write(data[index : index + 1])
                    await writer.drain()
        except ConnectionError:
            pass  # the client had all it wanted (a transfer's end) and closed
        finally:
            for stream in (upstream, writer):
                stream.close()
                with contextlib.suppress(ConnectionError):
                    await stream.wait_closed()

    relay = await asyncio.start_server(trickle, "127.0.0.1", 0)
    try:
        direct = tsig_provider(bind_server, protocol="tcp")
        relayed = tsig_provider(bind_server, protocol="tcp")
        relayed.endpoint = replace(relayed.endpoint, port=relay.sockets[0].getsockname()[1])
        found = await relayed.find_zone(ZONE_NAME)
        assert (found.name, found.marker) == (ZONE_NAME, (await direct.find_zone(ZONE_NAME)).marker)
        expected = await direct.list_rrsets(Zone(ZONE_NAME))
        assert await relayed.list_rrsets(Zone(ZONE_NAME)) == expected
        assert expected
    finally:
        for task in relaying:  # BIND keeps a connection open after its last answer
            task.cancel()
        await asyncio.gather(*relaying, return_exceptions=True)
        relay.close()
        await relay.wait_closed()
