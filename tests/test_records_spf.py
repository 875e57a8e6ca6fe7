import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnsauto.records.spf import count_dns_lookups, is_spf, merge_spf, parse_spf, parse_term


def test_parse_spf_gives_terms_with_qualifiers_and_arguments():
    terms = parse_spf("v=spf1 ip4:192.0.2.0/24 -include:_spf.example.net ra=postmaster ~all")

    assert [(t.qualifier, t.name, t.argument, t.is_modifier) for t in terms] == [
        ("", "ip4", ":192.0.2.0/24", False),
        ("-", "include", ":_spf.example.net", False),
        ("", "ra", "=postmaster", True),
        ("~", "all", "", False),
    ]


def test_spf_merge_keeps_foreign_mechanisms_and_all_qualifier():
    existing = "v=spf1 include:_spf.google.com ip4:198.51.100.7 ~all"

    merged = merge_spf(existing, ["mx", "-all"])

    assert merged == "v=spf1 include:_spf.google.com ip4:198.51.100.7 mx ~all"


@pytest.mark.parametrize(
    "existing",
    [
        "",
        "v=spf1 -all",
        "v=spf1 include:_spf.google.com ~all",
        "v=spf1 a -all ra=postmaster",
        "v=spf1 redirect=_spf.example.net",
        "v=spf1 mx:example.org/24 ?all exp=explain.example.test",
        "v=spf1 mx -all v=spf1 include:mailgun.org ~all",
    ],
)
def test_spf_merge_is_idempotent(existing):
    once = merge_spf(existing, ["mx", "-all"])

    assert merge_spf(once, ["mx", "-all"]) == once


_TERMS = st.sampled_from(
    [
        "mx",
        "-mx",
        "a",
        "a:mail.example.test/24",
        "include:_spf.google.com",
        "~include:mailgun.org",
        "ip4:192.0.2.1",
        "ip6:2001:db8::/32",
        "ptr",
        "exists:%{i}.bl.example.test",
        "-all",
        "~all",
        "?all",
        "ra=postmaster",
        "redirect=_spf.example.net",
    ]
)


@given(
    st.lists(st.lists(_TERMS, max_size=8), min_size=0, max_size=3),
    st.lists(_TERMS, max_size=4),
)
def test_spf_merge_is_idempotent_for_any_records(records, required):
    texts = []
    for terms in records:
        # RFC 7208 §6: redirect= at most once per record.
        kept = [t for i, t in enumerate(terms) if t != "redirect=_spf.example.net" or i == 0]
        texts.append(" ".join(["v=spf1", *kept]))

    once = merge_spf(texts, required)

    assert merge_spf(once, required) == once
    assert len(parse_spf(once)) == len({t.identity for t in parse_spf(once)})


def test_spf_merge_inserts_before_redirect_when_there_is_no_all():
    assert (
        merge_spf("v=spf1 include:x.example redirect=_spf.example.net", ["mx"])
        == "v=spf1 include:x.example mx redirect=_spf.example.net"
    )


def test_spf_merge_appends_when_there_is_no_all_or_redirect():
    assert merge_spf("v=spf1 include:x.example", ["mx"]) == "v=spf1 include:x.example mx"


def test_spf_merge_uses_required_all_only_when_the_record_ends_without_one():
    assert merge_spf("v=spf1 include:x.example", ["mx", "-all"]) == (
        "v=spf1 include:x.example mx -all"
    )
    assert merge_spf("v=spf1 ?all", ["-all"]) == "v=spf1 ?all"


def test_spf_merge_keeps_modifiers_after_all_where_they_are():
    assert merge_spf("v=spf1 a -all ra=postmaster", ["mx"]) == "v=spf1 a mx -all ra=postmaster"


def test_spf_merge_counts_a_mechanism_with_another_qualifier_as_present():
    assert merge_spf("v=spf1 ~mx -all", ["mx"]) == "v=spf1 ~mx -all"


def test_spf_merge_compares_mechanisms_case_insensitively():
    assert merge_spf("v=spf1 MX Include:X.Example -ALL", ["mx", "include:x.example"]) == (
        "v=spf1 MX Include:X.Example -ALL"
    )


def test_spf_merge_of_several_records_gives_one():
    merged = merge_spf(["v=spf1 mx -all", "v=spf1 include:mailgun.org ip4:192.0.2.1 ~all"], ["mx"])

    assert merged == "v=spf1 mx include:mailgun.org ip4:192.0.2.1 -all"


def test_spf_merge_of_several_records_in_one_text_gives_one():
    assert merge_spf("v=spf1 a -all v=spf1 include:x.example -all", ["mx"]) == (
        "v=spf1 a include:x.example mx -all"
    )


def test_spf_merge_into_nothing_gives_the_required_record():
    assert merge_spf("", ["mx", "-all"]) == "v=spf1 mx -all"
    assert merge_spf([], ["mx", "-all"]) == "v=spf1 mx -all"


def test_spf_merge_normalises_white_space():
    assert merge_spf("  v=spf1   mx    -all ", ["mx"]) == "v=spf1 mx -all"


def test_count_dns_lookups_counts_only_querying_terms():
    spf = (
        "v=spf1 include:a.example a mx:b.example/24 ptr exists:%{i}.c.example "
        "ip4:192.0.2.1 ip6:2001:db8::1 exp=explain.example ra=postmaster redirect=d.example"
    )

    assert count_dns_lookups(spf) == 6


def test_count_dns_lookups_of_stalwart_records():
    assert count_dns_lookups("v=spf1 mx -all") == 1
    assert count_dns_lookups("v=spf1 a -all") == 1
    assert count_dns_lookups("v=spf1 ip4:192.0.2.1 -all") == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v=spf1 mx -all", True),
        ("v=spf1", True),
        ("V=SPF1 -all", True),
        ("v=spf10 mx", False),
        ("v=DMARC1; p=reject", False),
        ("google-site-verification=abc", False),
        ("", False),
    ],
)
def test_is_spf(text, expected):
    assert is_spf(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "v=spf2 mx",
        "spf1 mx",
        "v=spf1 foo",
        "v=spf1 include",
        "v=spf1 include:",
        "v=spf1 all:x",
        "v=spf1 ip4:300.1.1.1",
        "v=spf1 ip4:2001:db8::1",
        "v=spf1 ip6:192.0.2.1",
        "v=spf1 ip4:192.0.2.1/33",
        "v=spf1 a/33",
        "v=spf1 mx//129",
        "v=spf1 redirect=",
        "v=spf1 redirect=a.example redirect=b.example",
        "v=spf1 exp=a.example exp=b.example",
    ],
)
def test_malformed_spf_raises_value_error(text):
    with pytest.raises(ValueError, match="SPF"):
        merge_spf(text, ["mx"])


def test_merge_rejects_a_malformed_required_term():
    with pytest.raises(ValueError, match="unknown SPF mechanism"):
        merge_spf("v=spf1 -all", ["mxx"])


def test_parse_term_accepts_every_mechanism_form():
    for text in [
        "all",
        "+a",
        "a:example.test",
        "a/24",
        "a//64",
        "a:example.test/24//64",
        "mx",
        "?mx:example.test",
        "ptr",
        "ptr:example.test",
        "ip4:192.0.2.0/24",
        "ip6:2001:db8::/32",
        "exists:%{ir}.%{l1r+-}._spf.%{d}",
        "include:_spf.example.test",
        "unknown-modifier=anything",
    ]:
        assert parse_term(text).text == text
