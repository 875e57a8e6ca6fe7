"""How a served answer is compared with what is expected (no servers needed)."""

from __future__ import annotations

import dns.name
import dns.rdatatype
import pytest

import dnsauto.sync.propagation as propagation
from dnsauto.plugin.changes import Create, Delete, Update
from dnsauto.plugin.txt import txt_rrset
from dnsauto.sync.propagation import Expectation, Nameserver, expectations_for, reachable
from dnsauto.testing import make_rrset

APEX = "example.test."


def test_txt_is_compared_by_its_text_however_it_is_split() -> None:
    text = "p=" + "A" * 400
    desired = txt_rrset("x." + APEX, 300, [text])  # strings of 255 and 147 bytes
    pieces = " ".join(f'"{text[i : i + 100]}"' for i in range(0, len(text), 100))
    served = make_rrset("x." + APEX, "TXT", 300, pieces)
    assert Expectation.of(desired).met_by_rrset(served)
    assert not Expectation.of(txt_rrset("x." + APEX, 300, [text + "B"])).met_by_rrset(served)


def test_names_inside_records_are_compared_without_case() -> None:
    desired = make_rrset(APEX, "MX", 300, "10 mail.example.test.")
    served = make_rrset(APEX, "MX", 300, "10 Mail.Example.TEST.")
    assert Expectation.of(desired).met_by_rrset(served)


def test_caa_issue_is_compared_without_the_blanks_after_semicolons() -> None:
    desired = make_rrset(APEX, "CAA", 300, '0 issue "letsencrypt.org;accounturi=https://ca.test/a"')
    served = make_rrset(APEX, "CAA", 300, '0 issue "letsencrypt.org; accounturi=https://ca.test/a"')
    other = make_rrset(APEX, "CAA", 300, '0 issue "letsencrypt.org; accounturi=https://ca.test/b"')
    assert Expectation.of(desired).met_by_rrset(served)
    assert Expectation.shared(desired).met_by_rrset(served)
    assert not Expectation.of(desired).met_by_rrset(other)


def test_a_shared_name_is_judged_as_the_planner_would() -> None:
    desired = Expectation.shared(txt_rrset(APEX, 300, ["v=spf1 mx -all"]))
    merged = make_rrset(APEX, "TXT", 300, '"v=spf1 include:x.test mx ~all"', '"verification=1"')
    unmerged = make_rrset(APEX, "TXT", 300, '"v=spf1 include:x.test ~all"', '"verification=1"')
    assert desired.met_by_rrset(merged)
    assert not desired.met_by_rrset(unmerged)
    assert not desired.met_by_rrset(None)


def test_a_deletion_is_met_by_nothing_only() -> None:
    (gone,) = expectations_for([Delete(txt_rrset("x." + APEX, 300, ["old"]))])
    assert gone.met_by_rrset(None)
    assert not gone.met_by_rrset(txt_rrset("x." + APEX, 300, ["old"]))


def test_only_a_change_of_the_ttl_alone_makes_the_ttl_count() -> None:
    old, new = txt_rrset("x." + APEX, 300, ["v"]), txt_rrset("x." + APEX, 600, ["v"])
    (ttl_only,) = expectations_for([Update(old, new)])
    assert not ttl_only.met_by_rrset(old)
    assert ttl_only.met_by_rrset(new)
    (created,) = expectations_for([Create(new)])
    assert created.met_by_rrset(old)  # values are what a create is about


def test_unreachable_addresses_of_a_nameserver_are_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(propagation, "_routable", lambda host: ":" not in host)
    v4, v6 = Nameserver("192.0.2.1", 53, "ns1."), Nameserver("2001:db8::1", 53, "ns1.")
    assert reachable([v4, v6]) == [v4]
    assert reachable([v6]) == [v6]  # none reachable: kept, to be reported as lagging


def test_expectations_are_told_apart_by_name_type_and_values() -> None:
    a = Expectation.of(txt_rrset("a." + APEX, 300, ["x"]))
    assert a == Expectation.of(txt_rrset("a." + APEX, 60, ["x"]))
    assert a != Expectation.of(txt_rrset("a." + APEX, 300, ["y"]))
    assert a != Expectation.absent(dns.name.from_text("a." + APEX), dns.rdatatype.TXT)
    assert len({a, Expectation.shared(txt_rrset("a." + APEX, 300, ["x"]))}) == 2
