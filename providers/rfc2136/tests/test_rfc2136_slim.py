"""An answer is parsed without the sections the provider never reads (wire.slim): what it
does read (header, question, answer, an empty answer's authority, OPT, TSIG) is unchanged."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rrset
import dns.tsig
import dns.tsigkeyring
from dnsauto_rfc2136.wire import records, slim

ZONE = "example.test."
KEYRING = dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"})


def answer_to_soa(*, signed: bool = True, rcode: int = dns.rcode.NOERROR) -> bytes:
    """An authoritative SOA answer as BIND gives it: the NS set and the servers' addresses."""
    query = dns.message.make_query(ZONE, "SOA", use_edns=0)
    if signed:
        query.use_tsig(KEYRING, keyname="k.")
        query.to_wire()  # makes the request MAC the answer's signature covers
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    if rcode == dns.rcode.NOERROR:
        response.answer.append(
            dns.rrset.from_text(ZONE, 300, "IN", "SOA", f"ns1.{ZONE} host.{ZONE} 42 1 1 1 1")
        )
    else:
        response.authority.append(
            dns.rrset.from_text(ZONE, 300, "IN", "SOA", f"ns1.{ZONE} host.{ZONE} 42 1 1 1 1")
        )
    response.authority.append(
        dns.rrset.from_text(ZONE, 300, "IN", "NS", f"ns1.{ZONE}", f"ns2.{ZONE}")
    )
    for host, address in (("ns1", "127.0.0.1"), ("ns2", "127.0.0.2")):
        response.additional.append(dns.rrset.from_text(f"{host}.{ZONE}", 300, "IN", "A", address))
    return response.to_wire()


def parsed(wire: bytes) -> dns.message.Message:
    return dns.message.from_wire(wire, keyring=False, ignore_trailing=True)


def test_an_answer_loses_its_authority_and_addresses_and_keeps_the_rest() -> None:
    wire = answer_to_soa()
    full, thin = parsed(wire), parsed(slim(wire))
    assert len(slim(wire)) < len(wire)
    assert thin.answer == full.answer
    assert (thin.id, thin.flags, thin.question) == (full.id, full.flags, full.question)
    assert thin.authority == []
    assert thin.additional == []
    assert thin.edns == full.edns
    assert thin.tsig == full.tsig
    assert thin.keyname == full.keyname


def test_an_answer_without_answer_records_keeps_its_authority() -> None:
    wire = answer_to_soa(rcode=dns.rcode.NXDOMAIN)
    thin = parsed(slim(wire))
    assert thin.rcode() == dns.rcode.NXDOMAIN
    assert thin.authority == parsed(wire).authority
    assert thin.additional == []
    assert thin.tsig == parsed(wire).tsig


def test_an_unsigned_answer_keeps_only_its_opt_record() -> None:
    thin = parsed(slim(answer_to_soa(signed=False)))
    assert thin.tsig is None
    assert thin.edns == 0
    assert thin.additional == []


def test_the_last_record_of_the_whole_answer_is_its_tsig() -> None:
    wire = answer_to_soa()
    last = records(wire)[1][-1]
    assert last.rdtype == dns.rdatatype.TSIG
    assert dns.name.from_wire(wire, last.start)[0] == dns.name.from_text("k.")


def test_a_kept_record_whose_name_points_into_what_is_left_out_leaves_the_answer_whole() -> None:
    wire = bytearray(answer_to_soa())
    spans = records(bytes(wire))[1]
    tsig, glue = spans[-1], spans[-2]
    # The TSIG's owner name made a pointer to a glue record's owner (behind the cut).
    pointed = bytes(wire[: tsig.start]) + bytes([0xC0 | glue.start >> 8, glue.start & 0xFF])
    name_end = records(bytes(wire))[1][-1].start + len(dns.name.from_text("k.").to_wire())
    rebuilt = pointed + bytes(wire[name_end:])
    assert records(rebuilt)[1][-1].pointer == glue.start
    assert slim(rebuilt) == rebuilt


def test_a_message_that_ends_early_is_left_to_dnspython() -> None:
    wire = answer_to_soa()
    assert slim(wire[:40]) == wire[:40]
