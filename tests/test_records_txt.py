import dns.message
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import pytest

from dnsauto.plugin.txt import MAX_STRING, split_text, txt_rdata, txt_rrset, txt_text


def test_short_text_is_one_character_string():
    rdata = txt_rdata("v=spf1 mx -all")

    assert rdata.strings == (b"v=spf1 mx -all",)
    assert rdata.to_text() == '"v=spf1 mx -all"'


def test_text_over_255_bytes_is_split_into_255_byte_character_strings():
    text = "x" * 600

    rdata = txt_rdata(text)

    assert [len(s) for s in rdata.strings] == [255, 255, 90]
    assert txt_text(rdata) == text


def test_text_of_exactly_255_bytes_stays_one_string():
    assert len(txt_rdata("y" * MAX_STRING).strings) == 1


def test_split_counts_utf8_bytes_not_characters():
    text = "é" * 200  # 400 bytes in UTF-8

    pieces = split_text(text)

    assert [len(p) for p in pieces] == [255, 145]
    assert b"".join(pieces).decode("utf-8") == text


def test_empty_text_is_one_empty_string():
    rdata = txt_rdata("")

    assert rdata.strings == (b"",)
    assert txt_text(rdata) == ""


def test_txt_text_joins_the_strings_of_a_record_read_from_zone_text():
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, '"v=DKIM1; k=rsa; " "p=AB"')
    assert isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)

    assert txt_text(rdata) == "v=DKIM1; k=rsa; p=AB"


def test_long_txt_survives_the_wire_format():
    text = "v=DKIM1; k=rsa; h=sha256; p=" + "A" * 400
    rrset = txt_rrset("sel._domainkey.example.test", 300, [text])
    message = dns.message.make_response(dns.message.make_query(rrset.name, dns.rdatatype.TXT))
    message.answer.append(rrset)

    echoed = dns.message.from_wire(message.to_wire()).answer[0]

    assert [txt_text(r) for r in echoed] == [text]


def test_txt_rrset_has_one_record_per_text_at_an_absolute_name():
    rrset = txt_rrset("example.test", 120, ["v=spf1 mx -all", "google-site-verification=x"])

    assert isinstance(rrset, dns.rrset.RRset)
    assert rrset.name.to_text() == "example.test."
    assert rrset.ttl == 120
    assert sorted(txt_text(r) for r in rrset) == ["google-site-verification=x", "v=spf1 mx -all"]


def test_txt_text_that_is_not_utf8_raises_value_error():
    rdata = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [b"\xff\xfe"])

    with pytest.raises(ValueError, match="not UTF-8"):
        txt_text(rdata)
