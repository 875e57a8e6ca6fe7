"""rrset_of: an RRset from records, as dnspython's from_rdata_list makes it."""

from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import pytest

from dnsauto.plugin import rrset_of

NAME = dns.name.from_text("_imaps._tcp.example.test.")


def rdata(rdtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)


def test_an_rrset_of_records_is_the_one_dnspython_makes_of_them() -> None:
    records = [rdata("SRV", "0 1 993 a.example."), rdata("SRV", "10 1 993 b.example.")]
    made = rrset_of(NAME, 300, records)
    expected = dns.rrset.from_rdata_list(NAME, 300, records)
    assert made == expected
    assert (made.name, made.ttl) == (NAME, 300)
    assert (made.rdclass, made.rdtype) == (dns.rdataclass.IN, dns.rdatatype.SRV)
    assert made.to_text() == expected.to_text()


def test_a_repeated_record_is_kept_once() -> None:
    made = rrset_of(NAME, 60, [rdata("TXT", '"a"'), rdata("TXT", '"a"'), rdata("TXT", '"b"')])
    assert sorted(r.to_text() for r in made) == ['"a"', '"b"']


def test_records_of_two_types_are_refused() -> None:
    with pytest.raises(dns.rdataset.IncompatibleTypes):
        rrset_of(NAME, 60, [rdata("TXT", '"a"'), rdata("CNAME", "x.example.")])


def test_signatures_of_two_covered_types_are_refused() -> None:
    signature = "{} 13 2 300 20300101000000 20200101000000 1 example. AAAA"
    with pytest.raises(dns.rdataset.IncompatibleTypes):
        rrset_of(
            NAME,
            60,
            [rdata("RRSIG", signature.format("A")), rdata("RRSIG", signature.format("MX"))],
        )
