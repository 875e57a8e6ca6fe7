"""Record data field forms, checked against dnspython's own parsing of zone-file text."""

from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from hypothesis import given
from hypothesis import strategies as st

from dnsauto.plugin import rdata_forms as forms

ZONE = dns.name.from_text("example.com.")

labels = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\Z")
names = st.lists(labels, min_size=1, max_size=4).map(lambda ls: dns.name.from_text(".".join(ls)))
u16 = st.integers(0, 65535)
txt_bytes = st.binary(min_size=0, max_size=700)
txt_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400)


def parsed(rdtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)


@given(u16, names)
def test_mx_fields_round_trip_like_dnspython_parses_them(priority, exchange):
    rdata = forms.mx_rdata(priority, forms.host_text(exchange, trailing_dot=False))
    assert rdata == parsed("MX", f"{priority} {exchange.to_text()}")
    assert forms.mx_fields(rdata) == (priority, exchange)


@given(u16, u16, u16, names)
def test_srv_fields_round_trip_like_dnspython_parses_them(priority, weight, port, target):
    rdata = forms.srv_rdata(priority, weight, port, forms.host_text(target, trailing_dot=True))
    assert rdata == parsed("SRV", f"{priority} {weight} {port} {target.to_text()}")
    assert forms.srv_fields(rdata) == forms.SrvFields(priority, weight, port, target)


@given(
    st.sampled_from([0, 128]),
    st.sampled_from(["issue", "issuewild", "iodef"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80),
)
def test_caa_fields_round_trip_like_dnspython_parses_them(flags, tag, value):
    rdata = forms.caa_rdata(flags, tag, value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    assert rdata == parsed("CAA", f'{flags} {tag} "{escaped}"')
    assert forms.caa_fields(rdata) == forms.CaaFields(flags, tag, value)


@given(txt_text)
def test_txt_from_one_string_is_split_into_255_byte_strings_that_join_back(text):
    rdata = forms.txt_from_joined(text)
    assert all(len(s) <= 255 for s in rdata.strings)
    assert forms.txt_joined(rdata) == text


@given(st.lists(st.binary(max_size=255), min_size=1, max_size=4))
def test_txt_quoted_form_parses_back_in_dnspython_to_the_same_strings(strings):
    rdata = dns.rdata.from_wire(
        dns.rdataclass.IN,
        dns.rdatatype.TXT,
        b"".join(bytes([len(s)]) + s for s in strings),
        0,
        sum(len(s) + 1 for s in strings),
    )
    quoted = forms.txt_quoted(rdata)
    assert parsed("TXT", quoted) == rdata
    assert forms.txt_from_quoted(quoted) == rdata


def test_a_2048_bit_dkim_key_is_split_where_the_api_wants_strings():
    key = "v=DKIM1; k=rsa; p=" + "M" * 392
    quoted = forms.txt_quoted(forms.txt_from_joined(key))
    assert quoted.count('" "') == 1
    assert forms.txt_joined(forms.txt_from_quoted(quoted)) == key


@given(names)
def test_names_relative_to_the_zone_and_back(relative):
    name = relative.derelativize(ZONE) if not relative.is_absolute() else relative
    text = forms.owner_relative(name, ZONE)
    assert forms.owner_from_relative(text, ZONE) == name
    assert forms.owner_from_fqdn(forms.owner_fqdn(name)) == name


def test_the_apex_is_at_or_empty_as_the_api_wants():
    assert forms.owner_relative(ZONE, ZONE) == "@"
    assert forms.owner_relative(ZONE, ZONE, apex="") == ""
    assert forms.owner_from_relative("", ZONE) == ZONE
    assert forms.owner_from_relative("@", ZONE) == ZONE


def test_targets_are_absolute_with_or_without_the_trailing_dot():
    assert forms.target_name("mail.example.com") == forms.target_name("mail.example.com.")
    assert forms.target_name("mail.example.com").is_absolute()
