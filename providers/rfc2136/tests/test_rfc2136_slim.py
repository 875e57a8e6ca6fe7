"""An answer is parsed without the sections the provider never reads (wire.slim): what it
does read (header, question, answer, an empty answer's authority, OPT, TSIG) is unchanged.
The SOA at a zone's apex is read from the wire alone (wire.apex_serial), and any other
answer left to dnspython; the rcode and the TSIG are found on the wire (wire.rcode,
wire.last_tsig)."""

from __future__ import annotations

import struct

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import pytest
from dnsauto_rfc2136.wire import (
    answer_records,
    apex_serial,
    last_tsig,
    query_wire,
    rcode,
    read_tsig,
    records,
    slim,
)

ZONE = "example.test."
KEYRING = dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"})


def answer_to_soa(
    *,
    signed: bool = True,
    rcode: int = dns.rcode.NOERROR,
    owner: str = ZONE,
    question: str = ZONE,
    extra: str | None = None,
) -> bytes:
    """An authoritative SOA answer as BIND gives it: the NS set and the servers' addresses.
    ``owner``: the SOA's name; ``extra``: one more answer record (its text, after the name)."""
    query = dns.message.make_query(question, "SOA", use_edns=0)
    if signed:
        query.use_tsig(KEYRING, keyname="k.")
        query.to_wire()  # makes the request MAC the answer's signature covers
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.set_rcode(rcode)
    if rcode == dns.rcode.NOERROR:
        response.answer.append(
            dns.rrset.from_text(owner, 300, "IN", "SOA", f"ns1.{ZONE} host.{ZONE} 42 1 1 1 1")
        )
        if extra is not None:
            response.answer.append(dns.rrset.from_text(owner, 300, "IN", *extra.split(" ", 1)))
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


APEX = dns.name.from_text(ZONE).to_digestable()


def test_the_serial_of_an_apex_soa_answer_is_read_from_the_wire_as_dnspython_reads_it() -> None:
    wire = answer_to_soa()
    soa = parsed(wire).answer[0][0]
    assert apex_serial(wire, APEX) == soa.serial == 42
    assert apex_serial(answer_to_soa(signed=False), APEX) == 42


def test_the_apex_serial_ignores_the_case_of_the_names() -> None:
    assert apex_serial(answer_to_soa(question="Example.TEST.", owner="EXAMPLE.test."), APEX) == 42


@pytest.mark.parametrize(
    "wire",
    [
        answer_to_soa(rcode=dns.rcode.NXDOMAIN),
        answer_to_soa(rcode=dns.rcode.REFUSED),
        answer_to_soa(owner="sub.example.test."),
        answer_to_soa(question="other.test."),
        answer_to_soa(extra='TXT "x"'),
    ],
    ids=["nxdomain", "refused", "soa-of-another-name", "another-question", "two-records"],
)
def test_an_answer_other_than_the_asked_apex_soa_has_no_apex_serial(wire: bytes) -> None:
    assert apex_serial(wire, APEX) is None


def _with_flags(wire: bytes, *, set_bits: int = 0, clear_bits: int = 0) -> bytes:
    flags = (int.from_bytes(wire[2:4], "big") | set_bits) & ~clear_bits
    return wire[:2] + flags.to_bytes(2, "big") + wire[4:]


def test_a_truncated_or_non_authoritative_answer_has_no_apex_serial() -> None:
    wire = answer_to_soa()
    assert apex_serial(_with_flags(wire, set_bits=dns.flags.TC), APEX) is None
    assert apex_serial(_with_flags(wire, clear_bits=dns.flags.AA), APEX) is None


def test_an_answer_that_ends_early_or_has_a_short_soa_has_no_apex_serial() -> None:
    wire = answer_to_soa(signed=False)
    assert apex_serial(wire[:60], APEX) is None
    soa = records(wire)[1][0]
    # the SOA's rdata one byte short: dnspython would refuse it, so must the fast path
    shorter = wire[: soa.rdata - 2] + (soa.end - soa.rdata - 1).to_bytes(2, "big")
    shorter += wire[soa.rdata : soa.end - 1] + wire[soa.end :]
    assert apex_serial(shorter, APEX) is None


def test_the_rcode_on_the_wire_includes_the_opt_record_s_extended_bits() -> None:
    assert rcode(answer_to_soa(rcode=dns.rcode.BADVERS)) == dns.rcode.BADVERS == 16
    assert rcode(answer_to_soa(rcode=dns.rcode.REFUSED)) == dns.rcode.REFUSED


def test_the_tsig_is_the_last_record_and_one_elsewhere_is_refused() -> None:
    wire = answer_to_soa()
    assert last_tsig(wire) == records(wire)[1][-1]
    assert last_tsig(answer_to_soa(signed=False)) is None
    spans = records(wire)[1]
    tsig, opt = spans[-1], spans[-2]
    # the TSIG moved before the OPT record: not the last any more
    swapped = wire[: opt.start] + wire[tsig.start : tsig.end] + wire[opt.start : opt.end]
    with pytest.raises(ValueError, match="not the message's last"):
        last_tsig(swapped)


def test_a_question_is_rendered_as_dnspython_renders_it_without_recursion_desired() -> None:
    name = dns.name.from_text("Mail.Example.test.")
    wire = query_wire(name, dns.rdatatype.SOA, 1232)
    expected = dns.message.make_query(name, "SOA", use_edns=0, payload=1232)
    expected.flags &= ~dns.flags.RD
    expected.id = int.from_bytes(wire[:2], "big")
    assert wire == expected.to_wire()
    assert len({query_wire(name, dns.rdatatype.SOA, 1232)[:2] for _ in range(20)}) > 1


def test_a_transfer_s_answers_are_read_with_their_owners_their_data_and_ttls() -> None:
    query = dns.message.make_query(ZONE, "AXFR")
    response = dns.message.make_response(query)
    soa = dns.rrset.from_text(ZONE, 300, "IN", "SOA", f"ns.{ZONE} h.{ZONE} 7 1 1 1 1")
    mx = dns.rrset.from_text(f"Mail.{ZONE}", 60, "IN", "MX", f"10 mx.{ZONE}")
    response.answer = [soa, mx]
    response.use_tsig(KEYRING, keyname="k.")
    read = answer_records(response.to_wire())
    assert [(r.owner, r.rdata, r.ttl) for r in read] == [
        (soa.name.labels, soa[0], 300),
        ((b"Mail", *soa.name.labels), mx[0], 60),
    ]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"\xc0\x0c", id="a pointer to itself"),
        pytest.param(b"\xc0\x40", id="a pointer forward"),
        pytest.param(b"\x41" + b"a" * 65 + b"\x00", id="a label over 63 bytes"),
    ],
)
def test_a_transfer_answer_whose_owner_cannot_be_read_is_a_format_error(answer: bytes) -> None:
    header = struct.pack("!HHHHHH", 1, 0x8400, 0, 1, 0, 0)
    record = answer + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x7f\x00\x00\x01"
    with pytest.raises(dns.exception.FormError):
        answer_records(header + record)


def test_a_transfer_answer_whose_data_is_not_its_type_s_is_a_format_error() -> None:
    header = struct.pack("!HHHHHH", 1, 0x8400, 0, 1, 0, 0)
    record = b"\x00" + struct.pack("!HHIH", 1, 1, 60, 3) + b"\x7f\x00\x00"  # an A of 3 bytes
    with pytest.raises(dns.exception.FormError):
        answer_records(header + record)


def test_an_answer_s_tsig_is_read_as_dnspython_reads_it() -> None:
    wire = answer_to_soa()
    expected = parsed(wire).tsig[0]
    tsig = read_tsig(wire)
    assert tsig is not None
    assert (tsig.start, tsig.owner) == (records(wire)[1][-1].start, (b"k", b""))
    assert dns.name.Name(tsig.algorithm) == expected.algorithm
    assert (tsig.time_signed, tsig.fudge, tsig.mac) == (
        expected.time_signed,
        expected.fudge,
        expected.mac,
    )
    assert (tsig.original_id, tsig.error, tsig.other) == (
        expected.original_id,
        expected.error,
        expected.other,
    )
    assert read_tsig(answer_to_soa(signed=False)) is None


def test_a_tsig_whose_mac_runs_past_its_record_cannot_be_read() -> None:
    wire = bytearray(answer_to_soa())
    tsig = read_tsig(bytes(wire))
    assert tsig is not None
    size_at = (
        records(bytes(wire))[1][-1].rdata
        + len(b"".join(bytes([len(label)]) + label for label in tsig.algorithm))
        + 8
    )
    struct.pack_into("!H", wire, size_at, len(tsig.mac) + 1)
    with pytest.raises(ValueError, match="TSIG"):
        read_tsig(bytes(wire))
