"""Zone discovery by SOA, and reading by AXFR or per-name queries."""

from __future__ import annotations

import dns.asyncquery
import dns.message
import dns.name
import dns.rdatatype
import pytest
from rfc2136_testing import tsig_provider

from dnsauto.plugin import AuthenticationError, Create, Delete, Zone
from dnsauto.testing import make_rrset
from dnsauto.testing.servers import CHILD_ZONE, ZONE, RunningServer

pytestmark = pytest.mark.servers

ZONE_NAME = dns.name.from_text(ZONE)
CHILD = dns.name.from_text(CHILD_ZONE)


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        (ZONE, ZONE),
        ("_dmarc.mail.example.test.", ZONE),
        (CHILD_ZONE, CHILD_ZONE),
        ("_dmarc.sub.example.test.", CHILD_ZONE),
        ("a.b.c.sub.example.test.", CHILD_ZONE),
    ],
)
async def test_delegated_subdomain_lands_in_its_own_zone(
    dns_server: RunningServer, name: str, zone: str
) -> None:
    provider = tsig_provider(dns_server)
    found = await provider.find_zone(dns.name.from_text(name))
    assert found.name == dns.name.from_text(zone)


async def test_the_serial_of_a_zone_s_apex_is_read_without_parsing_the_answer(
    dns_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = tsig_provider(dns_server)
    parses = []
    real = dns.message.from_wire
    monkeypatch.setattr(dns.message, "from_wire", lambda *a, **k: parses.append(1) or real(*a, **k))
    found = await provider.find_zone(ZONE_NAME)
    assert parses == []
    answer = await dns.asyncquery.udp(
        dns.message.make_query(ZONE_NAME, "SOA"), dns_server.host, port=dns_server.port, timeout=10
    )
    assert found.marker == str(answer.answer[0][0].serial)
    below = await provider.find_zone(dns.name.from_text("a.b.c.sub.example.test."))
    assert below.name == CHILD  # the walk up reads its other answers with dnspython
    assert parses != []


async def test_whole_zone_listing_leaves_out_glue_below_a_delegation(
    dns_server: RunningServer,
) -> None:
    provider = tsig_provider(dns_server)
    listed = {
        (r.name.to_text(), r.rdtype.name) for r in await provider.list_rrsets(Zone(ZONE_NAME))
    }
    assert ("sub.example.test.", "NS") in listed
    assert ("ns1.sub.example.test.", "A") not in listed
    assert ("example.test.", "TXT") in listed


async def test_reading_without_zone_transfer_queries_each_name_and_type(
    dns_server: RunningServer,
) -> None:
    writer = tsig_provider(dns_server)
    zone = Zone(ZONE_NAME)
    name = dns.name.from_text("zones-pername", ZONE_NAME)
    rrsets = [
        make_rrset(name, "TXT", 300, '"v=spf1 -all"'),
        make_rrset(name, "MX", 300, "10 mx.example.test."),
        make_rrset(name, "CAA", 300, '0 issue "letsencrypt.org"'),
    ]
    srv = dns.name.from_text("_25._tcp.zones-pername", ZONE_NAME)
    rrsets += [
        make_rrset(srv, "SRV", 300, "0 1 25 mx.example.test."),
        make_rrset(srv, "TLSA", 300, "3 1 1 " + "cd" * 32),
    ]
    await writer.apply(zone, [Create(r) for r in rrsets])
    try:
        reader = tsig_provider(dns_server, key=dns_server.update_only_key)
        by_queries = await reader.list_rrsets(zone, [name, srv, ZONE_NAME])
        assert zone.name in reader._no_transfer
        by_transfer = await writer.list_rrsets(zone, [name, srv, ZONE_NAME])

        def texts(rrsets: list[dns.rrset.RRset]) -> set[tuple[str, str, int, frozenset[str]]]:
            return {
                (r.name.to_text(), r.rdtype.name, r.ttl, frozenset(x.to_text() for x in r))
                for r in rrsets
                if r.rdtype in reader.capabilities.record_types
            }

        assert texts(by_queries) == texts(by_transfer)
        assert {r.to_text() for r in rrsets} <= {r.to_text() for r in by_queries}
    finally:
        await writer.apply(zone, [Delete(r) for r in rrsets])


async def test_whole_zone_listing_when_transfer_is_refused_says_so(
    dns_server: RunningServer,
) -> None:
    provider = tsig_provider(dns_server, key=dns_server.update_only_key)
    with pytest.raises(AuthenticationError, match=r"refuses zone transfers of example\.test\."):
        await provider.list_rrsets(Zone(ZONE_NAME))


async def test_a_failed_transfer_names_tcp_whatever_protocol_queries_use(
    dns_server: RunningServer,
) -> None:
    provider = tsig_provider(dns_server, key=dns_server.update_only_key, protocol="udp")
    with pytest.raises(AuthenticationError, match=r"\[AXFR to [^ ]+ over tcp"):
        await provider.list_rrsets(Zone(ZONE_NAME))


async def test_listing_a_cname_name_does_not_follow_the_cname(dns_server: RunningServer) -> None:
    writer = tsig_provider(dns_server)
    reader = tsig_provider(dns_server, key=dns_server.update_only_key)
    zone = Zone(ZONE_NAME)
    alias = dns.name.from_text("zones-alias", ZONE_NAME)
    cname = make_rrset(alias, "CNAME", 300, "example.test.")
    await writer.apply(zone, [Create(cname)])
    try:
        listed = await reader.list_rrsets(zone, [alias])
        assert [(r.name, r.rdtype) for r in listed] == [(alias, dns.rdatatype.CNAME)]
    finally:
        await writer.apply(zone, [Delete(cname)])


async def test_a_signed_zone_is_read_without_the_records_its_server_signs_it_with(
    signed_bind_server: RunningServer,
) -> None:
    provider = tsig_provider(signed_bind_server)
    zone, records = await provider.read_zone(ZONE_NAME)
    assert zone.name == ZONE_NAME
    types = {r.rdtype for r in records}
    assert {dns.rdatatype.SOA, dns.rdatatype.NS} <= types
    assert not types & {dns.rdatatype.RRSIG, dns.rdatatype.NSEC}


async def test_a_transfer_keeps_the_signatures_of_each_type_in_an_rrset_of_their_own(
    signed_bind_server: RunningServer,
) -> None:
    provider = tsig_provider(signed_bind_server)
    await provider.read_zone(ZONE_NAME)
    transferred = await provider.transport.transfer(ZONE_NAME)
    signatures = [r for r in transferred if r.name == ZONE_NAME and r.rdtype == dns.rdatatype.RRSIG]
    covered = [r.covers for r in signatures]
    assert {dns.rdatatype.SOA, dns.rdatatype.NS, dns.rdatatype.DNSKEY} <= set(covered)
    assert len(covered) == len(set(covered))
    assert all(rd.covers() == rrset.covers for rrset in signatures for rd in rrset)


async def test_records_are_written_to_a_signed_zone_and_read_back(
    signed_bind_server: RunningServer,
) -> None:
    provider = tsig_provider(signed_bind_server)
    zone, _ = await provider.read_zone(ZONE_NAME)
    name = dns.name.from_text("_dmarc", ZONE_NAME)
    record = make_rrset(name, "TXT", 300, '"v=DMARC1; p=none"')
    await provider.apply(zone, [Create(record)])
    try:
        _, records = await provider.read_zone(ZONE_NAME, [name])
        assert [r for r in records if r.rdtype == dns.rdatatype.TXT] == [record]
    finally:
        await provider.apply(zone, [Delete(record)])
