"""The apply stage: a plan's changes sent to the provider in batches, each journaled first.

Every batch is written to the journal (``pending``) before the provider is called and marked
``applied`` or ``failed`` after, so a run cut short leaves nothing unjournaled. A batch that
fails with a :class:`~dnsauto.plugin.TransientError` is sent once more, after the provider's
``Retry-After`` when it gave one (up to :data:`MAX_RETRY_WAIT`) or :data:`RETRY_DELAY`; a
second failure, or any permanent error, ends the domain's run (the daemon's backoff decides
what happens next).

On a cluster node (``fence``, :mod:`dnsauto.state.leases`) the journal's transaction first
checks that the node still holds the domain's lease for the length of the provider call (the
DnsServer's ``timeout``, renewed first when less remains), and the rows record the node and
its fencing token: a node that lost its lease sends no further batch. The one retry of a batch
is checked the same way before it is sent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dnsauto.plugin.changes import Change
from dnsauto.plugin.errors import DnsautoError, PartialApplyError, TransientError
from dnsauto.plugin.provider import Provider, Zone
from dnsauto.state.leases import LeaseStore
from dnsauto.state.store import StateStore
from dnsauto.sync.jobs import DomainJob, DomainResult
from dnsauto.sync.writes import WriteTurns

__all__ = ["MAX_RETRY_WAIT", "RETRY_DELAY", "apply_changes"]

log = logging.getLogger(__name__)

RETRY_DELAY = 1.0
"""Seconds before the one retry of a batch that failed transiently, when the provider gave no
``Retry-After``."""

MAX_RETRY_WAIT = 60.0
"""The longest ``Retry-After`` waited for within a run; a longer one is left to the daemon."""


async def apply_changes(
    store: StateStore,
    run_id: str,
    provider: Provider[Any],
    job: DomainJob,
    zone: Zone,
    changes: Sequence[Change],
    result: DomainResult,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    fence: LeaseStore | None = None,
    turns: WriteTurns | None = None,
) -> None:
    """Apply ``changes`` in the provider's batches, each journaled before it is sent and marked
    after; a batch that fails with a :class:`TransientError` is sent once more (see
    :func:`_send`). ``result`` counts what was applied and lists what was not. ``fence``: the
    node's leases, checked in each batch's journal transaction (see the module docstring).
    ``turns``: the engine's, so that its domains' writes never meet at the store's lock
    (:mod:`dnsauto.sync.writes`)."""
    turns = turns or WriteTurns()
    size = provider.capabilities.max_changes_per_batch or len(changes)
    result.not_applied = []
    if provider.capabilities.requires_person:
        await provider.apply(zone, changes)
        result.applied = len(changes)
        return
    for start in range(0, len(changes), size):
        batch = changes[start : start + size]
        # The store's writes run in a worker thread where they could wait: another writer's
        # transaction (an API /set of thousands of objects) would otherwise hold the event loop.
        seconds = job.server.timeout.total_seconds()
        at_once = functools.partial(
            store.journal_before_apply_at_once, run_id, job.domain, str(zone), batch
        )
        waiting = functools.partial(
            store.journal_before_apply,
            run_id,
            job.domain,
            str(zone),
            batch,
            guard=None if fence is None else fence.guard,
            guard_seconds=seconds,
        )
        try:
            ids = await turns.value(at_once if fence is None else _refused, waiting)
        except DnsautoError:
            result.not_applied = list(changes[start:])
            raise
        recheck = None if fence is None else functools.partial(fence.confirm, job.domain, seconds)
        try:
            await _send(provider, zone, batch, sleep, recheck)
        except PartialApplyError as exc:
            await asyncio.to_thread(_journal_partial, store, ids, batch, exc)
            result.applied += len(exc.applied)
            result.not_applied = [*exc.partly_applied, *exc.not_applied]
            result.not_applied += changes[start + size :]
            exc.args = (f"{exc.message}; not applied: {_listed(result.not_applied)}",)
            raise
        except DnsautoError as exc:
            await asyncio.to_thread(store.journal_after_apply, ids, exc.message)
            result.not_applied = list(changes[start:])
            if start:
                exc.args = (
                    f"{exc.message} (batch {start // size + 1}: {start} of "
                    f"{len(changes)} changes were applied before it)",
                )
            raise
        except BaseException as exc:
            _mark_interrupted(store, ids, exc)
            raise
        await turns.done(
            functools.partial(store.journal_after_apply_at_once, ids, None),
            functools.partial(store.journal_after_apply, ids, None),
        )
        result.applied += len(batch)


def _refused() -> None:
    """No write at once (under a lease, whose guard runs in the worker's transaction)."""
    return


def _journal_partial(
    store: StateStore, ids: Sequence[int], batch: Sequence[Change], exc: PartialApplyError
) -> None:
    """Mark what a partly failed batch applied as applied, the rest as failed."""
    entry = {id(change): entry_id for change, entry_id in zip(batch, ids, strict=True)}
    store.journal_after_apply([entry[id(c)] for c in exc.applied], None)
    partly = [entry[id(c)] for c in exc.partly_applied]
    store.journal_after_apply(partly, f"partly applied: {exc.message}")
    store.journal_after_apply([entry[id(c)] for c in exc.not_applied], exc.message)


def _mark_interrupted(store: StateStore, ids: Sequence[int], exc: BaseException) -> None:
    """Mark a batch whose provider call ended in a bug or a cancellation as failed.

    The batch may be partly applied; a restore checks what is served before it acts.
    Any store error here is logged, so the original exception is the one raised.
    """
    if isinstance(exc, asyncio.CancelledError):
        why = "cancelled while the provider was applying it; it may be partly applied"
    else:
        why = f"internal error: {type(exc).__name__}: {exc}"
    try:
        store.journal_after_apply(ids, why)
    except DnsautoError as error:
        log.error("cannot mark journal entries %s: %s", list(ids), error.message)


async def _send(
    provider: Provider[Any],
    zone: Zone,
    batch: Sequence[Change],
    sleep: Callable[[float], Awaitable[None]],
    recheck: Callable[[], object] | None = None,
) -> None:
    """``provider.apply`` of one batch, sent once more if it fails transiently (a partly applied
    batch is not: what went through is journaled and the next run plans the rest); ``recheck``
    (the lease) is called before the second send and raises when it must not go."""
    try:
        await provider.apply(zone, batch)
    except PartialApplyError:
        raise
    except TransientError as exc:
        wait = exc.retry_after if exc.retry_after is not None else RETRY_DELAY
        if wait > MAX_RETRY_WAIT:
            raise
        log.warning("%s; sending the batch again in %gs", exc.message, round(wait, 3))
        await sleep(max(wait, 0.0))
        if recheck is not None:
            await asyncio.to_thread(recheck)
        await provider.apply(zone, batch)


def _listed(changes: Sequence[Change]) -> str:
    """Changes as ``action TYPE name``, for an error message."""
    return ", ".join(f"{c.action} {c.rdtype.name} {c.name.to_text()}" for c in changes)
