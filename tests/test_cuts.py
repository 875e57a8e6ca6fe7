"""Which zone a name belongs to: the configured domains' zones below the zone planned."""

from __future__ import annotations

from pathlib import Path

import dns.name

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.registry import load_registry
from dnsauto.sync.cuts import ConfiguredZones, zone_cut
from dnsauto.sync.jobs import configured_zones


def n(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


ZONES = ConfiguredZones(
    {
        n("example.test."): "example.test",
        n("sub.example.test."): "sub.example.test",
        n("deep.sub.example.test."): "deep.sub.example.test",
    }
)


def test_a_name_below_two_configured_zones_is_cut_at_the_deepest() -> None:
    zone = n("example.test.")
    name = n("mail.deep.sub.example.test.")
    cuts = ZONES.between(zone, [name], own=zone)
    assert cuts == {
        n("sub.example.test."): "sub.example.test",
        n("deep.sub.example.test."): "deep.sub.example.test",
    }
    assert zone_cut(name, zone, cuts) == n("deep.sub.example.test.")


def test_a_domain_that_is_no_zone_of_its_own_keeps_its_names_up_to_a_deeper_zone() -> None:
    found = n("example.test.")  # the provider has no zone sub.example.test
    own = n("sub.example.test.")
    names = [n("mail.sub.example.test."), n("mail.deep.sub.example.test.")]
    assert ZONES.between(found, names, own=own) == {
        n("deep.sub.example.test."): "deep.sub.example.test"
    }


def test_a_zone_with_no_configured_zone_below_has_no_cuts() -> None:
    zone = n("deep.sub.example.test.")
    assert ZONES.between(zone, [n("mail.deep.sub.example.test.")], own=zone) == {}


def test_a_name_outside_the_zone_is_in_no_zone_below_it() -> None:
    cuts = {n("sub.example.test."): "sub.example.test"}
    assert zone_cut(n("mail.other.test."), n("example.test."), cuts) is None


def test_the_zones_below_a_zone_are_every_configured_zone_under_it() -> None:
    assert ZONES.below(n("sub.example.test.")) == [
        (n("deep.sub.example.test."), "deep.sub.example.test")
    ]
    assert ZONES.below(n("deep.sub.example.test.")) == []


def test_the_configured_zones_are_made_once_per_configuration(tmp_path: Path) -> None:
    def config() -> Config:
        document = {
            "bootstrap": {"serverHostname": "mail.example.test", "defaultDomain": "example.test"},
            "domain": {"sub.example.test": {"dnsManagement": {"@type": "Manual"}}},
            "daemon": {"stateDir": str(tmp_path)},
        }
        return load_config(document, registry=load_registry())

    first = config()
    assert configured_zones(first) is configured_zones(first)
    assert configured_zones(config()) is not configured_zones(first)
    assert set(configured_zones(first).zones.values()) == {"example.test", "sub.example.test"}
