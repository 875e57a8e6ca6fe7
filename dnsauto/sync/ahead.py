"""What the syncs of a run of many domains read from the state store, read a window at a time.

Each sync needs its domain's zone mark (:mod:`dnsauto.sync.resync`) and DKIM keys. Read one
domain at a time, that is two queries a domain, a seventh of an unchanged re-sync's time; read
for every domain at once, it is memory that grows with the number of domains (2.5 KB a domain
with both default DKIM keys). The syncs of a run start in the order of its jobs, so both are
read here for the next :data:`WINDOW` domains in that order, one query each, and handed out
once: at most a window is held.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from dnsauto.state.store import DkimKeyRow, StateStore, ZoneMark

__all__ = ["WINDOW", "Ahead", "Known"]

WINDOW = 500
"""Domains read at once."""


@dataclass(frozen=True)
class Known:
    """A domain's zone mark and DKIM keys, as read with those of its window."""

    mark: ZoneMark | None
    keys: list[DkimKeyRow]


class Ahead:
    """The zone marks and DKIM keys of ``domains`` (in the order their syncs start), read a
    window at a time. Safe to ask from the syncs' worker threads."""

    def __init__(self, store: StateStore, domains: Sequence[str], window: int = WINDOW) -> None:
        self._store = store
        self._domains = domains
        self._window = window
        self._next = 0
        """The position in ``domains`` where the next window starts."""
        self._read: dict[str, Known] = {}
        self._lock = threading.Lock()

    def read_already(self, domain: str) -> Known | None:
        """What was read for ``domain``, once, if its window was read; None without reading
        (then :meth:`known` reads it)."""
        with self._lock:
            return self._read.pop(domain, None)

    def known(self, domain: str) -> Known | None:
        """What was read for ``domain``, once; None for a domain asked out of its order (or
        twice), whose sync reads for itself."""
        with self._lock:
            found = self._read.pop(domain, None)
            if found is not None:
                return found
            window = self._domains[self._next : self._next + self._window]
            if domain not in window:
                return None
            self._next += len(window)
            marks = self._store.zone_marks(window)
            keys = self._store.dkim_keys_of(window)
            self._read.update((name, Known(marks.get(name), keys.get(name, []))) for name in window)
            return self._read.pop(domain)
