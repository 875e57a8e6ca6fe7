"""The zone of a name by longest suffix on a label boundary, over every page."""

from __future__ import annotations

import dns.name
import pytest

from dnsauto.plugin import Zone
from dnsauto.plugin.errors import ZoneNotFoundError
from dnsauto.plugin.zones import Page, ZoneList, all_linked, all_pages, longest_zone, zone_for

ZONES = [Zone(dns.name.from_text(n), n) for n in ("example.com.", "sub.example.com.", "org.")]


def n(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def test_a_name_under_a_zone_is_in_it():
    assert zone_for(n("mail.example.com."), ZONES).id == "example.com."


def test_a_name_sharing_only_a_string_suffix_is_not_in_the_zone():
    assert longest_zone(n("notexample.com."), ZONES) is None


def test_a_delegated_child_zone_is_its_own_zone():
    assert zone_for(n("_dmarc.sub.example.com."), ZONES).id == "sub.example.com."


def test_no_matching_zone_is_zone_not_found_naming_the_zones_held():
    with pytest.raises(ZoneNotFoundError, match=r"example\.com"):
        zone_for(n("example.net."), ZONES)


async def test_every_page_is_read_until_the_last():
    pages = {1: Page([1, 2], True), 2: Page([3], True), 3: Page([], False)}

    async def fetch(number: int) -> Page[int]:
        return pages[number]

    assert await all_pages(fetch) == [1, 2, 3]


async def test_linked_pages_are_followed_until_one_names_no_next():
    pages = {
        "/r": ([1, 2], "/r?cursor=b"),
        "/r?cursor=b": ([3], "/r?cursor=c"),
        "/r?cursor=c": ([], None),
    }

    async def fetch(path: str) -> tuple[list[int], str | None]:
        return pages[path]

    assert await all_linked(fetch, "/r") == [1, 2, 3]


async def test_a_zone_list_is_read_once_and_again_only_for_a_name_in_none_of_its_zones():
    held = [Zone(dns.name.from_text("example.com."), "1")]
    listings = 0

    async def list_zones() -> list[Zone]:
        nonlocal listings
        listings += 1
        return list(held)

    zones = ZoneList("fake", list_zones)
    assert (await zones.find(dns.name.from_text("mail.example.com."))).id == "1"
    assert (await zones.find(dns.name.from_text("example.com."))).id == "1"
    assert listings == 1
    held.append(Zone(dns.name.from_text("example.org."), "2"))  # added since
    assert (await zones.find(dns.name.from_text("example.org."))).id == "2"
    assert listings == 2
    with pytest.raises(ZoneNotFoundError, match=r"example\.com\., example\.org\."):
        await zones.find(dns.name.from_text("example.net."))
    assert listings == 3
