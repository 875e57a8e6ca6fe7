"""dnsauto.testing.authoritative: the loopback nameserver plugin tests serve their fakes from."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from dnsauto.config.daemon import DnsSettings
from dnsauto.sync.propagation import Expectation, NameserverFinder, PropagationChecker
from dnsauto.testing import make_rrset
from dnsauto.testing.authoritative import AuthoritativeServer

ZONE = dns.name.from_text("example.test.")
SOA = make_rrset(
    ZONE, "SOA", 300, "ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300"
)
MX = make_rrset(ZONE, "MX", 300, "10 mail.example.test.")
DEEP = make_rrset("a.b.example.test.", "TXT", 300, '"deep"')
ALIAS = make_rrset("www.example.test.", "CNAME", 300, "example.test.")


class Published:
    """What the server serves; a test changes ``rrsets`` between queries."""

    def __init__(self, *rrsets: dns.rrset.RRset) -> None:
        self.rrsets = list(rrsets)
        self.calls = 0

    def __call__(self) -> list[dns.rrset.RRset]:
        self.calls += 1
        return list(self.rrsets)


@pytest.fixture
def published() -> Published:
    return Published(SOA, MX, DEEP, ALIAS)


@pytest.fixture
def server(published: Published) -> Iterator[AuthoritativeServer]:
    with AuthoritativeServer(ZONE, published) as running:
        yield running


def ask(server: AuthoritativeServer, name: str, rdtype: str, *, tcp: bool = False
        ) -> dns.message.Message:  # fmt: skip
    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, "127.0.0.1", port=server.port, timeout=5)


def test_the_published_rrset_is_answered_authoritatively_and_the_query_recorded(
    server: AuthoritativeServer,
) -> None:
    before = time.monotonic()
    response = ask(server, "example.test.", "MX")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert not response.flags & dns.flags.RA
    assert response.answer == [MX]
    (query,) = server.queries
    assert (query.name, query.rdtype, query.transport) == (ZONE, dns.rdatatype.MX, "udp")
    assert before <= query.at <= time.monotonic()
    assert server.address == f"127.0.0.1:{server.port}"


def test_each_answer_reads_what_is_published_at_that_moment(
    server: AuthoritativeServer, published: Published
) -> None:
    name = "_dmarc.example.test."
    assert ask(server, name, "TXT").rcode() == dns.rcode.NXDOMAIN
    dmarc = make_rrset(name, "TXT", 300, '"v=DMARC1; p=reject"')
    published.rrsets.append(dmarc)
    assert ask(server, name, "TXT").answer == [dmarc]
    assert published.calls == 2
    assert [q.at for q in server.queries] == sorted(q.at for q in server.queries)


def test_tcp_answers_the_same_and_is_recorded_as_tcp(server: AuthoritativeServer) -> None:
    response = ask(server, "example.test.", "MX", tcp=True)
    assert response.answer == [MX]
    assert [q.transport for q in server.queries] == ["tcp"]


@pytest.mark.parametrize(
    ("name", "rdtype", "rcode"),
    [
        ("example.test.", "TXT", dns.rcode.NOERROR),  # NODATA: the name holds other types
        ("b.example.test.", "TXT", dns.rcode.NOERROR),  # an empty non-terminal
        ("nothing.example.test.", "TXT", dns.rcode.NXDOMAIN),
    ],
)
def test_a_missing_rrset_is_nodata_or_nxdomain_with_the_soa(
    server: AuthoritativeServer, name: str, rdtype: str, rcode: dns.rcode.Rcode
) -> None:
    response = ask(server, name, rdtype)
    assert response.rcode() == rcode
    assert response.flags & dns.flags.AA
    assert response.answer == []
    assert response.authority == [SOA]


def test_a_cname_at_the_name_is_answered_for_any_type(server: AuthoritativeServer) -> None:
    assert ask(server, "www.example.test.", "A").answer == [ALIAS]


def test_a_name_outside_the_zone_is_refused_and_not_read(
    server: AuthoritativeServer, published: Published
) -> None:
    response = ask(server, "example.org.", "MX")
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.flags & dns.flags.AA
    assert published.calls == 0
    assert len(server.queries) == 1


def test_a_large_answer_is_truncated_over_udp_and_whole_over_tcp(
    server: AuthoritativeServer, published: Published
) -> None:
    values = [f'"{i:03d} {"x" * 200}"' for i in range(20)]
    big = make_rrset("big.example.test.", "TXT", 300, *values)
    published.rrsets.append(big)
    query = dns.message.make_query("big.example.test.", "TXT", use_edns=0, payload=1232)
    response, used_tcp = dns.query.udp_with_fallback(query, "127.0.0.1", port=server.port,
                                                     timeout=5)  # fmt: skip
    assert used_tcp
    assert response.answer == [big]
    assert [q.transport for q in server.queries] == ["udp", "tcp"]


def test_an_update_is_not_implemented(server: AuthoritativeServer) -> None:
    query = dns.message.make_query("example.test.", "SOA")
    query.set_opcode(dns.opcode.UPDATE)
    response = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=5)
    assert response.rcode() == dns.rcode.NOTIMP


async def test_authoritative_servers_point_the_propagation_check_at_it(
    server: AuthoritativeServer, published: Published
) -> None:
    settings = DnsSettings.model_validate({"authoritativeServers": [server.address]})
    checker = PropagationChecker(NameserverFinder(settings))
    dmarc = make_rrset("_dmarc.example.test.", "TXT", 300, '"v=DMARC1; p=none"')
    wanted = [Expectation.of(dmarc), Expectation.of(MX)]
    before = await checker.snapshot(ZONE, wanted, query_timeout=5)
    assert not before.propagated
    assert before.lagging == {server.address: ["_dmarc.example.test. TXT: answers NXDOMAIN"]}
    published.rrsets.append(dmarc)
    after = await checker.snapshot(ZONE, wanted, query_timeout=5)
    assert after.propagated
    assert {(q.name.to_text(), q.transport) for q in server.queries} == {
        ("_dmarc.example.test.", "udp"), ("example.test.", "udp")}  # fmt: skip


def test_a_failing_callback_is_answered_servfail_and_raised_on_stop() -> None:
    def broken() -> list[dns.rrset.RRset]:
        raise LookupError("the fake is gone")

    server = AuthoritativeServer(ZONE, broken).start()
    assert ask(server, "example.test.", "MX").rcode() == dns.rcode.SERVFAIL
    assert ask(server, "example.test.", "MX", tcp=True).rcode() == dns.rcode.SERVFAIL
    with pytest.raises(LookupError, match="the fake is gone"):
        server.stop()
    assert len(server.errors) == 2
