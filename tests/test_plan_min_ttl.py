"""A TTL below the provider's minimum is raised to it, and the plan says so."""

from __future__ import annotations

import dns.name

from dnsauto.sync.plan import plan_zone
from dnsauto.testing import make_rrset

ZONE = dns.name.from_text("example.com.")


def test_a_ttl_below_the_minimum_is_raised_and_said_in_the_plan():
    want = make_rrset("_dmarc.example.com.", "TXT", 300, '"v=DMARC1; p=none"')
    plan = plan_zone(ZONE, [want], [], min_ttl=3600)
    assert plan.changes[0].new is not None
    assert plan.changes[0].new.ttl == 3600
    assert any("300s" in w and "3600s" in w for w in plan.warnings)


def test_a_ttl_at_or_above_the_minimum_is_kept_without_a_warning():
    want = make_rrset("_dmarc.example.com.", "TXT", 3600, '"v=DMARC1; p=none"')
    plan = plan_zone(ZONE, [want], [], min_ttl=60)
    assert plan.changes[0].new is not None
    assert plan.changes[0].new.ttl == 3600
    assert plan.warnings == []


def test_a_raised_rrset_already_at_the_minimum_needs_no_change():
    have = make_rrset("_dmarc.example.com.", "TXT", 3600, '"v=DMARC1; p=none"')
    want = make_rrset("_dmarc.example.com.", "TXT", 300, '"v=DMARC1; p=none"')
    assert plan_zone(ZONE, [want], [have], min_ttl=3600).changes == []
