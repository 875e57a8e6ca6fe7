"""Finding the zone that holds a name, and reading every page of a paged listing.

The zone of a name is the account's zone with the longest apex the name is under, compared
label by label: ``notexample.com`` is not in ``example.com``, and a delegated ``sub.example.com``
the account holds is its own zone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import dns.name

from dnsauto.plugin.errors import ProviderError, ZoneNotFoundError
from dnsauto.plugin.provider import Zone

__all__ = ["Page", "ZoneList", "all_linked", "all_pages", "longest_zone", "zone_for"]

T = TypeVar("T")

MAX_PAGES = 100_000
"""A listing that has not ended after this many pages is a provider bug, not a large zone."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and whether another follows."""

    items: list[T]
    more: bool


async def all_pages(fetch: Callable[[int], Awaitable[Page[T]]], first: int = 1) -> list[T]:
    """Every item of a paged listing: pages ``first``, ``first + 1``, ... until one says it is
    the last (or comes back empty)."""
    items: list[T] = []
    for number in range(first, first + MAX_PAGES):
        page = await fetch(number)
        items.extend(page.items)
        if not page.more or not page.items:
            return items
    raise ProviderError(f"the listing did not end after {MAX_PAGES} pages")


async def all_linked(
    fetch: Callable[[str], Awaitable[tuple[list[T], str | None]]], first: str
) -> list[T]:
    """Every item of a listing whose pages name the next one (a ``Link: rel="next"`` header,
    DigitalOcean's ``links.pages.next``): ``fetch(path)`` returns a page's items and the path
    of the next page, ``None`` after the last."""
    items: list[T] = []
    path: str | None = first
    for _ in range(MAX_PAGES):
        if path is None:
            return items
        page, path = await fetch(path)
        items.extend(page)
    raise ProviderError(f"the listing did not end after {MAX_PAGES} pages")


def longest_zone(name: dns.name.Name, zones: Iterable[Zone]) -> Zone | None:
    """The zone among ``zones`` with the longest apex that ``name`` is at or under."""
    best: Zone | None = None
    for zone in zones:
        if name.is_subdomain(zone.name) and (best is None or len(zone.name) > len(best.name)):
            best = zone
    return best


def zone_for(name: dns.name.Name, zones: Iterable[Zone], provider: str = "") -> Zone:
    """:func:`longest_zone`, or ``ZoneNotFoundError`` naming the zones the account has."""
    listed = list(zones)
    zone = longest_zone(name, listed)
    if zone is None:
        held = ", ".join(sorted(str(z) for z in listed)[:10]) or "none"
        raise ZoneNotFoundError(
            f"no zone of the account holds {name} (zones: {held})", provider=provider
        )
    return zone


class ZoneList:
    """An account's zones, listed by ``list_zones`` at first use and listed again when a name
    is in none of them (a zone added since): one per provider instance."""

    def __init__(self, provider: str, list_zones: Callable[[], Awaitable[list[Zone]]]) -> None:
        self.provider = provider
        self._list_zones = list_zones
        self._zones: list[Zone] | None = None

    async def find(self, name: dns.name.Name) -> Zone:
        """The zone holding ``name`` (:func:`zone_for`); ``ZoneNotFoundError`` when none does."""
        if self._zones is not None:
            known = longest_zone(name, self._zones)
            if known is not None:
                return known
        self._zones = await self._list_zones()
        return zone_for(name, self._zones, self.provider)
