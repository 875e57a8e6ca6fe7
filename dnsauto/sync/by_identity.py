"""What a function gives for objects many domains of a run share, made once for each object.

Domains set up alike share their settings (``Config``'s validation) and the mail server's,
and the domains of one mail server most of their desired rdata (:mod:`dnsauto.records.mail`):
their JSON, and their expectations' values, were made once a domain. Kept by the object's
identity, the object held with its value so that its id is not reused; a few at a time (a
long-running daemon reloads its configuration; objects that nothing shares are made as
before, at the cost of a dict's look-up).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ByIdentity"]

K = TypeVar("K")
V = TypeVar("V")


class ByIdentity(Generic[K, V]):
    """``make(key)``, kept for the ``kept`` keys made last (all forgotten when full)."""

    def __init__(self, make: Callable[[K], V], kept: int) -> None:
        self._make = make
        self._kept = kept
        self._made: dict[int, tuple[K, V]] = {}

    def __call__(self, key: K) -> V:
        found = self._made.get(id(key))
        if found is not None and found[0] is key:
            return found[1]
        value = self._make(key)
        if len(self._made) >= self._kept:
            self._made.clear()
        self._made[id(key)] = (key, value)
        return value
