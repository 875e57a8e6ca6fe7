"""Removing challenge values from a shared name: only the values given go."""

from __future__ import annotations

import dns.name

from dnsauto.acme.challenges import without_values
from dnsauto.plugin.changes import Delete, Update
from dnsauto.testing import make_rrset

NAME = dns.name.from_text("_acme-challenge.example.test.")


def test_removing_a_value_keeps_the_others_at_the_name() -> None:
    have = make_rrset(NAME, "TXT", 60, '"ours"', '"foreign"')

    (change,) = without_values([have], {NAME: {"ours"}})

    assert isinstance(change, Update)
    assert [r.to_text() for r in change.new] == ['"foreign"']


def test_removing_the_last_value_deletes_the_rrset() -> None:
    have = make_rrset(NAME, "TXT", 60, '"ours"')

    assert without_values([have], {NAME: {"ours"}}) == [Delete(have)]


def test_a_name_without_our_values_and_other_types_are_left_alone() -> None:
    foreign = make_rrset(NAME, "TXT", 60, '"foreign"')
    other = make_rrset("other.example.test.", "TXT", 60, '"ours"')
    cname = make_rrset(NAME, "CNAME", 60, "elsewhere.example.test.")

    assert without_values([foreign, other, cname], {NAME: {"ours"}}) == []
