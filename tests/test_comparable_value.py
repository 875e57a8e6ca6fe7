"""comparable_value: a record's data as text to compare, the canonical form (RFC 4034 §6.2)
for the types whose form is their text lowercased, read back from the canonical wire for
the others."""

from __future__ import annotations

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from dnsauto.plugin.changes import comparable_value

RECORDS = [
    ("A", "192.0.2.1"),
    ("AAAA", "2001:DB8::A:1"),
    ("CNAME", "Mail.Example.TEST."),
    ("CNAME", r"we\.ird\032Name\(x\).Example."),
    ("CNAME", "xn--bcher-kva.Example."),
    ("MX", "10 MX1.Example.Test."),
    ("NS", "NS1.Example."),
    ("PTR", "Host.Example."),
    ("SRV", "0 1 993 IMAP.Example.Test."),
    ("SRV", "0 0 0 ."),
    ("SSHFP", "4 2 " + "AB" * 32),
    ("TLSA", "3 1 1 " + "CD" * 32),
    ("TLSA", "3 0 0 " + "ef" * 300),
]


def canonical_text(rdata: dns.rdata.Rdata) -> str:
    """The definition: the text of the record read back from its canonical wire form."""
    wire = rdata.to_digestable()
    return dns.rdata.from_wire(rdata.rdclass, rdata.rdtype, wire, 0, len(wire)).to_text()


@pytest.mark.parametrize(("rdtype", "text"), RECORDS)
def test_the_comparable_value_is_the_text_of_the_canonical_form(rdtype: str, text: str) -> None:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)
    assert comparable_value(rdata) == canonical_text(rdata)


def test_values_differing_only_in_the_case_of_their_names_compare_equal() -> None:
    upper = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.MX, "10 MAIL.EXAMPLE.")
    lower = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.MX, "10 mail.example.")
    assert comparable_value(upper) == comparable_value(lower) == "10 mail.example."
