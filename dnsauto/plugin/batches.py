"""Which changes of a batch went through when a provider applies it in several calls.

A provider whose ``apply`` makes more than one API call (Cloudflare's batches of at most 200
records, or one call per record) can fail after some calls went through. It then must say
exactly which changes are applied, so the journal and the sync's report agree with the zone.
:class:`ApplyProgress` keeps that count: each provider call belongs to one change (by its
index in the batch), the provider marks the calls that succeeded, and on a failure
:meth:`ApplyProgress.error` turns the provider's error into a
:class:`~dnsauto.plugin.errors.PartialApplyError` naming the applied, partly applied and untouched
changes (or leaves it as it is when nothing went through). The engine understands it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

import dns.rdatatype

from dnsauto.plugin.changes import Change, Delete
from dnsauto.plugin.errors import PartialApplyError, ProviderError, UnsupportedError

__all__ = ["ApplyProgress", "chunks", "refuse_unsupported_types"]

CallT = TypeVar("CallT")


def refuse_unsupported_types(
    changes: Sequence[Change],
    supported: Collection[dns.rdatatype.RdataType],
    *,
    provider: str,
    zone: str,
) -> None:
    """Raise :class:`~dnsauto.plugin.errors.UnsupportedError` before any call when a change writes a
    record type the provider cannot hold (a permanent error: a person must change the config)."""
    for change in changes:
        rrset = change.old if isinstance(change, Delete) else change.new
        if rrset.rdtype not in supported:
            rdtype = dns.rdatatype.to_text(rrset.rdtype)
            raise UnsupportedError(
                f"{provider} cannot hold {rdtype} records",
                provider=provider,
                zone=zone,
                name=str(rrset.name),
                rdtype=rdtype,
            )


def chunks(items: Sequence[CallT], size: int) -> Iterator[Sequence[CallT]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ApplyProgress(Generic[CallT]):
    """The provider calls of a batch of ``changes``, each as ``(index of its change, call)``."""

    def __init__(self, changes: Sequence[Change], calls: Iterable[tuple[int, CallT]]) -> None:
        self.changes = list(changes)
        self.calls = list(calls)
        self._total = Counter(index for index, _ in self.calls)
        self._done: Counter[int] = Counter()

    def done(self, index: int) -> None:
        """One call of change ``index`` went through."""
        self._done[index] += 1

    def error(self, cause: ProviderError) -> ProviderError:
        """The error to raise for ``cause``: partial when any call went through."""
        if not self._done:
            return cause
        groups: tuple[list[Change], list[Change], list[Change]] = ([], [], [])
        for index, change in enumerate(self.changes):
            done, total = self._done[index], self._total[index]
            groups[0 if done >= total else 1 if done else 2].append(change)
        applied, partly, rest = groups
        return PartialApplyError(cause, applied=applied, partly_applied=partly, not_applied=rest)

    async def one_by_one(self, send: Callable[[CallT], Awaitable[None]]) -> None:
        """Make every call in order with ``send``; stop at the first failure."""
        for index, call in self.calls:
            try:
                await send(call)
            except ProviderError as exc:
                raise self.error(exc) from exc
            self.done(index)

    async def in_chunks(
        self, size: int, send: Callable[[Sequence[CallT]], Awaitable[None]]
    ) -> None:
        """Make the calls ``size`` at a time (each chunk all or nothing); stop at a failure."""
        for chunk in chunks(self.calls, size):
            try:
                await send([call for _, call in chunk])
            except ProviderError as exc:
                raise self.error(exc) from exc
            for index, _ in chunk:
                self.done(index)
