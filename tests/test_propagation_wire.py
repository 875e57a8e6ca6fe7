"""An answer judged from its wire (``Expectation.met_by_answer``) is judged as the parsed
message would be (no servers needed): met only where ``met_by_rrset`` says met."""

from __future__ import annotations

import random

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rrset
import pytest

from dnsauto.plugin.txt import txt_rrset
from dnsauto.sync.propagation import Expectation, _answer_only, _random_id
from dnsauto.testing import make_rrset

NAME = "x.example.test."
LONG = "p=" + "A" * 400
CASES: list[tuple[str, Expectation, list[dns.rrset.RRset], bool]] = [
    (
        "txt split elsewhere",
        Expectation.of(txt_rrset(NAME, 300, [LONG])),
        [
            make_rrset(
                NAME, "TXT", 300, " ".join(f'"{LONG[i : i + 100]}"' for i in range(0, 402, 100))
            )
        ],
        True,
    ),
    (
        "txt one more value",
        Expectation.of(txt_rrset(NAME, 300, ["v"])),
        [make_rrset(NAME, "TXT", 300, '"v"', '"w"')],
        False,
    ),
    (
        "txt contained",
        Expectation.of(txt_rrset(NAME, 300, ["v"]), exact=False),
        [make_rrset(NAME, "TXT", 300, '"v"', '"w"')],
        True,
    ),
    (
        "mx in another case",
        Expectation.of(make_rrset(NAME, "MX", 300, "10 mail.example.test.")),
        [make_rrset("X.Example.test.", "MX", 300, "10 Mail.Example.TEST.")],
        True,
    ),
    (
        "mx another preference",
        Expectation.of(make_rrset(NAME, "MX", 300, "10 mail.example.test.")),
        [make_rrset(NAME, "MX", 300, "20 mail.example.test.")],
        False,
    ),
    (
        "srv",
        Expectation.of(make_rrset(NAME, "SRV", 300, "0 1 443 mail.example.test.")),
        [make_rrset(NAME, "SRV", 300, "0 1 443 mail.example.test.")],
        True,
    ),
    (
        "cname compressed",
        Expectation.of(make_rrset(NAME, "CNAME", 300, "mail.example.test.")),
        [make_rrset(NAME, "CNAME", 300, "MAIL.example.test.")],
        True,
    ),
    (
        "caa with blanks",
        Expectation.of(
            make_rrset(NAME, "CAA", 300, '0 issue "letsencrypt.org;accounturi=https://ca.test/a"')
        ),
        [make_rrset(NAME, "CAA", 300, '0 issue "letsencrypt.org; accounturi=https://ca.test/a"')],
        True,
    ),
    (
        "a",
        Expectation.of(make_rrset(NAME, "A", 300, "192.0.2.1")),
        [make_rrset(NAME, "A", 300, "192.0.2.1")],
        True,
    ),
    ("deleted", Expectation.absent(dns.name.from_text(NAME), dns.rdatatype.TXT), [], True),
    (
        "not deleted",
        Expectation.absent(dns.name.from_text(NAME), dns.rdatatype.TXT),
        [make_rrset(NAME, "TXT", 300, '"v"')],
        False,
    ),
    (
        "deleted behind a cname",
        Expectation.absent(dns.name.from_text(NAME), dns.rdatatype.TXT),
        [
            make_rrset(NAME, "CNAME", 300, "y.example.test."),
            make_rrset("y.example.test.", "TXT", 300, '"v"'),
        ],
        True,
    ),
    (
        "value removed, another stays",
        Expectation.without(txt_rrset(NAME, 300, ["v"])),
        [make_rrset(NAME, "TXT", 300, '"w"')],
        True,
    ),
    (
        "value not yet removed",
        Expectation.without(txt_rrset(NAME, 300, ["v"])),
        [make_rrset(NAME, "TXT", 300, '"v"', '"w"')],
        False,
    ),
    ("value removed with its rrset", Expectation.without(txt_rrset(NAME, 300, ["v"])), [], True),
    (
        "mx removed in another case",
        Expectation.without(make_rrset(NAME, "MX", 300, "10 mail.example.test.")),
        [make_rrset(NAME, "MX", 300, "10 Mail.Example.TEST.")],
        False,
    ),
    (
        "ttl not yet",
        Expectation(dns.name.from_text(NAME), dns.rdatatype.TXT, frozenset({"v"}), True, 600),
        [make_rrset(NAME, "TXT", 300, '"v"')],
        False,
    ),
    (
        "ttl",
        Expectation(dns.name.from_text(NAME), dns.rdatatype.TXT, frozenset({"v"}), True, 600),
        [make_rrset(NAME, "TXT", 600, '"v"')],
        True,
    ),
]


def answer(
    expectation: Expectation, records: list[dns.rrset.RRset], rcode: int, aa: bool
) -> tuple[bytes, int]:
    query = dns.message.make_query(expectation.name, expectation.rdtype, use_edns=0, payload=1232)
    query.flags &= ~dns.flags.RD
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.Rcode(rcode))
    if aa:
        response.flags |= dns.flags.AA
    for rrset in records:
        response.answer.append(rrset)
    response.authority.append(make_rrset("example.test.", "NS", 300, "ns1.example.test."))
    return response.to_wire(), query.id


@pytest.mark.parametrize(
    ("case", "expectation", "records", "met"), CASES, ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("rcode", [dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL])
@pytest.mark.parametrize("aa", [True, False])
def test_the_wire_is_judged_as_the_parsed_answer(
    case: str,
    expectation: Expectation,
    records: list[dns.rrset.RRset],
    met: bool,
    rcode: int,
    aa: bool,
) -> None:
    wire, query_id = answer(expectation, records, rcode, aa)
    parsed = _answer_only(wire)
    rrset = parsed.get_rrset(
        parsed.answer, expectation.name, parsed.question[0].rdclass, expectation.rdtype
    )
    slow = parsed.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) and bool(
        parsed.flags & dns.flags.AA
    )
    slow = slow and expectation.met_by_rrset(rrset)
    assert expectation.met_by_answer(wire, query_id) == slow
    assert slow == (met and aa and rcode != dns.rcode.SERVFAIL)


def test_an_answer_to_another_question_or_id_is_left_to_the_full_parse() -> None:
    expectation = Expectation.of(txt_rrset(NAME, 300, ["v"]))
    wire, query_id = answer(expectation, [make_rrset(NAME, "TXT", 300, '"v"')], 0, True)
    assert expectation.met_by_answer(wire, query_id)
    assert not expectation.met_by_answer(wire, query_id ^ 1)
    other = Expectation.of(txt_rrset("y.example.test.", 300, ["v"]))
    assert not other.met_by_answer(wire, query_id)


def test_a_shared_name_is_left_to_the_planner() -> None:
    expectation = Expectation.shared(txt_rrset(NAME, 300, ["v=spf1 mx -all"]))
    wire, query_id = answer(
        expectation, [make_rrset(NAME, "TXT", 300, '"v=spf1 mx -all"')], 0, True
    )
    assert not expectation.met_by_answer(wire, query_id)


def slow_judgement(expectation: Expectation, wire: bytes) -> bool:
    try:
        parsed = _answer_only(wire)
    except Exception:
        return False
    if parsed.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return False
    if not parsed.flags & dns.flags.AA:
        return False
    found = parsed.get_rrset(parsed.answer, expectation.name, 1, expectation.rdtype)
    return expectation.met_by_rrset(found)


def test_cut_and_random_answers_are_met_only_where_the_parse_says_so() -> None:
    expectation = Expectation.of(txt_rrset(NAME, 300, ["v"]))
    wire, query_id = answer(expectation, [make_rrset(NAME, "TXT", 300, '"v"')], 0, True)
    for end in range(len(wire)):
        cut = wire[:end]
        if expectation.met_by_answer(cut, query_id):
            assert slow_judgement(expectation, cut), end
    rng = random.Random(1)
    for _ in range(500):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        assert not expectation.met_by_answer(noise, query_id)


@pytest.mark.parametrize(
    ("rdtype", "text"),
    [
        ("MX", "10 MX1.Example.Test."),
        ("SRV", "0 1 993 IMAP.Example.Test."),
        ("SRV", "0 0 0 ."),
        ("CNAME", r"we\.ird\032Name.Example."),
        ("NS", "NS1.Example."),
        ("PTR", "Host.Example."),
        ("A", "192.0.2.1"),
        ("AAAA", "2001:db8::1"),
        ("TLSA", "3 1 1 " + "ab" * 32),
        ("DNAME", "Target.Example."),
    ],
)
def test_an_expectation_keeps_each_value_s_canonical_wire_form(rdtype: str, text: str) -> None:
    rrset = dns.rrset.from_text("x.example.", 300, "IN", rdtype, text)
    assert Expectation.of(rrset).wires == frozenset({rrset[0].to_digestable()})


def test_expectations_of_records_sharing_rdata_are_those_of_records_that_do_not() -> None:
    shared = dns.rdata.from_text("IN", "SRV", "0 1 993 Mail.Example.TEST.")
    one = dns.rrset.from_rdata("_imaps._tcp.one.test.", 300, shared)
    other = dns.rrset.from_rdata("_imaps._tcp.other.test.", 300, shared)
    apart = dns.rrset.from_text(
        "_imaps._tcp.other.test.", 300, "IN", "SRV", "0 1 993 mail.example.test."
    )
    assert Expectation.of(other) == Expectation.of(apart)
    assert Expectation.of(one).values == Expectation.of(apart).values
    assert Expectation.of(other).wires == Expectation.of(apart).wires


def test_query_ids_are_random_16_bit_numbers_drawn_afresh_when_used_up() -> None:
    ids = [_random_id() for _ in range(3 * 256)]
    assert all(0 <= i < 1 << 16 for i in ids)
    assert len(set(ids)) > 600  # 768 draws of 65,536: a few repeats at most
