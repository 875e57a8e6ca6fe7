"""Planning: desired versus current RRsets, with dnsauto's ownership rules."""

from __future__ import annotations

import dns.name
import pytest

from dnsauto.plugin.changes import Create, Delete, Update, rrset_values
from dnsauto.plugin.errors import UnsafePlanError
from dnsauto.sync.plan import is_shared, plan_zone, txt_family
from dnsauto.testing import make_rrset

ZONE = dns.name.from_text("example.test.")


def rr(name: str, rdtype: str, *values: str, ttl: int = 300):
    return make_rrset(dns.name.from_text(name, ZONE), rdtype, ttl, *values)


def test_missing_rrset_is_created() -> None:
    want = rr("_dmarc", "TXT", '"v=DMARC1; p=reject"')
    plan = plan_zone(ZONE, [want], [])
    assert plan.changes == [Create(want)]


def test_identical_rrset_needs_no_change() -> None:
    want = rr("_dmarc", "TXT", '"v=DMARC1; p=reject"')
    assert plan_zone(ZONE, [want], [rr("_dmarc", "TXT", '"v=DMARC1; p=reject"')]).changes == []


def test_a_current_rrset_whose_name_differs_only_in_case_is_the_same_rrset() -> None:
    want = rr("_dmarc", "TXT", '"v=DMARC1; p=reject"')
    have = rr("_DMARC", "TXT", '"v=DMARC1; p=none"')
    (change,) = plan_zone(ZONE, [want], [have]).changes
    assert isinstance(change, Update)
    assert change.old is have


def test_the_changes_are_in_the_canonical_order_of_their_names_then_types() -> None:
    wants = [
        rr("b", "TXT", '"1"'),
        rr("A", "TXT", '"2"'),
        rr("a.b", "MX", "1 x."),
        rr("a", "MX", "1 x."),
    ]
    plan = plan_zone(ZONE, wants, [])
    assert [(c.name, c.rdtype) for c in plan.changes] == sorted((w.name, w.rdtype) for w in wants)


def test_a_deletion_of_a_name_in_other_case_deletes_the_current_rrset() -> None:
    have = rr("Old", "TXT", '"x"')
    (change,) = plan_zone(
        ZONE, [], [have], delete=[(dns.name.from_text("old", ZONE), have.rdtype)]
    ).changes
    assert isinstance(change, Delete)
    assert change.old is have


def test_owned_name_is_replaced_whole() -> None:
    have = rr("_dmarc", "TXT", '"v=DMARC1; p=none"', '"stray"')
    want = rr("_dmarc", "TXT", '"v=DMARC1; p=reject"')
    (change,) = plan_zone(ZONE, [want], [have]).changes
    assert change == Update(have, want)


def test_ttl_difference_updates_an_owned_name() -> None:
    have = rr("_dmarc", "TXT", '"v=DMARC1; p=reject"', ttl=3600)
    want = rr("_dmarc", "TXT", '"v=DMARC1; p=reject"', ttl=300)
    assert plan_zone(ZONE, [want], [have]).changes == [Update(have, want)]


def test_foreign_apex_txt_values_survive_beside_ours() -> None:
    have = rr("@", "TXT", '"google-site-verification=abc"', '"MS=ms123"')
    want = rr("@", "TXT", '"v=spf1 mx -all"')
    (change,) = plan_zone(ZONE, [want], [have]).changes
    assert rrset_values(change.new) == sorted(
        ['"google-site-verification=abc"', '"MS=ms123"', '"v=spf1 mx -all"']
    )


def test_existing_spf_is_merged_not_replaced() -> None:
    have = rr("@", "TXT", '"v=spf1 include:_spf.google.com ~all"')
    want = rr("@", "TXT", '"v=spf1 mx -all"')
    (change,) = plan_zone(ZONE, [want], [have]).changes
    assert rrset_values(change.new) == ['"v=spf1 include:_spf.google.com mx ~all"']


def test_merged_spf_needs_no_change_on_the_next_run() -> None:
    have = rr("@", "TXT", '"v=spf1 include:_spf.google.com mx ~all"', '"other"')
    want = rr("@", "TXT", '"v=spf1 mx -all"')
    assert plan_zone(ZONE, [want], [have]).changes == []


def test_two_spf_records_at_a_name_become_one() -> None:
    have = rr("@", "TXT", '"v=spf1 a -all"', '"v=spf1 include:x.example -all"')
    want = rr("@", "TXT", '"v=spf1 mx -all"')
    (change,) = plan_zone(ZONE, [want], [have]).changes
    (value,) = rrset_values(change.new)
    assert value.startswith('"v=spf1 ')
    for term in ("a", "include:x.example", "mx"):
        assert f" {term} " in value


def test_spf_over_ten_lookups_is_a_warning() -> None:
    includes = " ".join(f"include:i{n}.example" for n in range(10))
    have = rr("@", "TXT", f'"v=spf1 {includes} -all"')
    plan = plan_zone(ZONE, [rr("@", "TXT", '"v=spf1 mx -all"')], [have])
    assert any("11 DNS lookups" in w for w in plan.warnings)


def test_other_family_at_shared_name_is_replaced_by_its_tag() -> None:
    have = rr("@", "TXT", '"v=STSv1; id=old"', '"keep me"')
    want = rr("@", "TXT", '"v=STSv1; id=new"')
    (change,) = plan_zone(ZONE, [want], [have]).changes
    assert rrset_values(change.new) == ['"keep me"', '"v=STSv1; id=new"']


def test_shared_name_keeps_its_ttl_when_values_already_match() -> None:
    have = rr("@", "TXT", '"v=spf1 mx -all"', ttl=86400)
    assert plan_zone(ZONE, [rr("@", "TXT", '"v=spf1 mx -all"')], [have]).changes == []


def test_foreign_caa_issuers_survive() -> None:
    have = rr("@", "CAA", '0 issue "digicert.com"', '0 issue "letsencrypt.org;accounturi=old"')
    want = rr("@", "CAA", '0 issue "letsencrypt.org;accounturi=new"')
    (change,) = plan_zone(ZONE, [want], [have]).changes
    assert rrset_values(change.new) == sorted(
        ['0 issue "digicert.com"', '0 issue "letsencrypt.org;accounturi=new"']
    )


def test_foreign_caa_iodef_url_survives_beside_ours() -> None:
    have = rr("@", "CAA", '0 iodef "mailto:security@example.test"')
    want = rr("@", "CAA", '0 iodef "mailto:postmaster@example.test"')
    (change,) = plan_zone(ZONE, [want], [have]).changes
    assert len(change.new) == 2


def test_caa_issue_with_a_blank_after_the_semicolon_is_the_value_already_there() -> None:
    # Stalwart writes "; accounturi=" through some providers and ";accounturi=" through others.
    have = rr("@", "CAA", '0 issue "letsencrypt.org; accounturi=https://ca.test/acct/1"')
    want = rr("@", "CAA", '0 issue "letsencrypt.org;accounturi=https://ca.test/acct/1"')
    assert plan_zone(ZONE, [want], [have]).changes == []


def test_caa_issue_for_another_account_is_still_replaced_whatever_its_blanks() -> None:
    have = rr("@", "CAA", '0 issue "letsencrypt.org; accounturi=https://ca.test/acct/1"')
    want = rr("@", "CAA", '0 issue "letsencrypt.org;accounturi=https://ca.test/acct/2"')
    (change,) = plan_zone(ZONE, [want], [have]).changes
    assert rrset_values(change.new) == [
        '0 issue "letsencrypt.org;accounturi=https://ca.test/acct/2"'
    ]


def test_cname_is_not_published_over_foreign_records() -> None:
    have = rr("autoconfig", "A", "192.0.2.1")
    plan = plan_zone(ZONE, [rr("autoconfig", "CNAME", "mail.example.test.")], [have])
    assert plan.changes == []
    assert "autoconfig.example.test." in plan.warnings[0]


def test_records_are_not_published_beside_a_foreign_cname() -> None:
    have = rr("_imaps._tcp", "CNAME", "elsewhere.example.")
    plan = plan_zone(ZONE, [rr("_imaps._tcp", "SRV", "0 1 993 mail.example.test.")], [have])
    assert plan.changes == []
    assert plan.warnings


def test_current_rrsets_at_other_names_are_never_touched() -> None:
    other = rr("www", "TXT", '"unrelated"')
    plan = plan_zone(ZONE, [rr("_dmarc", "TXT", '"v=DMARC1; p=reject"')], [other])
    assert all(c.name != other.name for c in plan.changes)


def test_nothing_is_deleted_unless_named() -> None:
    stale = rr("old._domainkey", "TXT", '"v=DKIM1; p=abc"')
    assert plan_zone(ZONE, [], [stale]).changes == []
    assert plan_zone(ZONE, [], [stale], delete=[(stale.name, stale.rdtype)]).changes == [
        Delete(stale)
    ]


def test_names_outside_the_zone_are_a_warning_not_a_change() -> None:
    outside = make_rrset("mail.elsewhere.example.", "TXT", 300, '"v=spf1 a -all"')
    plan = plan_zone(ZONE, [outside], [])
    assert plan.changes == []
    assert "outside zone" in plan.warnings[0]


def test_foreign_txt_of_another_v_family_at_a_shared_name_survives() -> None:
    have = rr("@", "TXT", '"v=spf1 -all"', '"v=verify1 token"', '"v=STSv1; id=foreign"')
    want = rr("@", "TXT", '"v=spf1 mx -all"')
    (change,) = plan_zone(ZONE, [want], [have]).changes
    assert set(rrset_values(change.new)) == {
        '"v=spf1 mx -all"',
        '"v=verify1 token"',
        '"v=STSv1; id=foreign"',
    }


def test_unsafe_share_counts_only_values_dnsauto_did_not_write() -> None:
    have = rr("_dmarc", "TXT", *[f'"v{n}"' for n in range(12)])
    plan = plan_zone(ZONE, [rr("_dmarc", "TXT", '"v=DMARC1; p=reject"')], [have])
    plan.raise_if_unsafe(owned={(have.name, have.rdtype): set(rrset_values(have))})
    with pytest.raises(UnsafePlanError, match=r"100% of the 10 existing values dnsauto did not"):
        plan.raise_if_unsafe(owned={(have.name, have.rdtype): {'"v0"', '"v1"'}})


def test_plan_replacing_most_of_many_values_is_unsafe() -> None:
    have = rr("_dmarc", "TXT", *[f'"v{n}"' for n in range(12)])
    plan = plan_zone(ZONE, [rr("_dmarc", "TXT", '"v=DMARC1; p=reject"')], [have])
    with pytest.raises(UnsafePlanError, match=r"example.test.: the plan removes or replaces 100%"):
        plan.raise_if_unsafe()


def test_plan_on_few_existing_values_is_never_unsafe() -> None:
    have = rr("_dmarc", "TXT", '"a"', '"b"')
    plan_zone(ZONE, [rr("_dmarc", "TXT", '"c"')], [have]).raise_if_unsafe()


@pytest.mark.parametrize(
    ("name", "rdtype", "shared"),
    [("@", "TXT", True), ("mail", "TXT", True), ("_dmarc", "TXT", False),
     ("v1-rsa._domainkey", "TXT", False), ("_mta-sts", "TXT", False), ("@", "CAA", True),
     ("@", "MX", False), ("_imaps._tcp", "SRV", False)],
)  # fmt: skip
def test_which_names_are_shared(name: str, rdtype: str, shared: bool) -> None:
    import dns.rdatatype

    assert is_shared(dns.name.from_text(name, ZONE), dns.rdatatype.from_text(rdtype)) is shared


@pytest.mark.parametrize(
    ("text", "family"),
    [("v=spf1 mx -all", "spf1"), ("v=DMARC1; p=reject", "dmarc1"), ("hello", None),
     ("v=STSv1; id=1", "stsv1")],
)  # fmt: skip
def test_txt_family_is_the_v_tag(text: str, family: str | None) -> None:
    assert txt_family(text) == family


def test_a_name_in_a_configured_zone_below_is_left_to_that_zones_domain() -> None:
    cut = dns.name.from_text("sub.example.test.")
    host = rr("mail.sub", "TXT", '"v=spf1 a -all"')
    apex = rr("@", "TXT", '"v=spf1 mx -all"')
    plan = plan_zone(ZONE, [host, apex], [], cuts={cut: "sub.example.test"})
    assert plan.changes == [Create(apex)]
    assert [(e.zone, e.domain, e.keys) for e in plan.elsewhere] == [
        (cut, "sub.example.test", [(host.name, host.rdtype)])
    ]
    assert plan.warnings == []


def test_a_name_in_a_zone_no_configured_domain_publishes_is_not_published() -> None:
    cut = dns.name.from_text("_domainkey.example.test.")
    key = rr("s1._domainkey", "TXT", '"v=DKIM1; p=AAAA"')
    plan = plan_zone(ZONE, [key], [], cuts={cut: None})
    assert plan.changes == []
    assert plan.warnings == [
        "s1._domainkey.example.test. TXT: in zone _domainkey.example.test., which no configured "
        "domain publishes; not published"
    ]


def test_a_deletion_below_a_zone_cut_is_not_planned() -> None:
    cut = dns.name.from_text("_domainkey.example.test.")
    old = rr("s0._domainkey", "TXT", '"v=DKIM1; p=AAAA"')
    plan = plan_zone(ZONE, [], [old], delete=[(old.name, old.rdtype)], cuts={cut: None})
    assert plan.changes == []


def test_the_planned_zone_itself_among_the_cuts_cuts_nothing_off() -> None:
    apex = rr("@", "TXT", '"v=spf1 mx -all"')
    plan = plan_zone(ZONE, [apex], [], cuts={ZONE: "example.test"})
    assert plan.changes == [Create(apex)]
