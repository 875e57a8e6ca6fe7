"""One sync of many domains: desired -> current -> plan -> apply, with errors kept per domain.

A failure in one domain is reported in its :class:`DomainResult` and never stops the others.
Propagation checks are the next stage's job (:mod:`dnsauto.sync.propagation`).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import dns.name
import dns.rdatatype
import dns.rrset

from dnsauto.config.model import Config
from dnsauto.plugin.changes import Change
from dnsauto.plugin.context import ProviderContext
from dnsauto.plugin.errors import (
    ConflictError,
    DnsautoError,
    TransientError,
    UnsafePlanError,
)
from dnsauto.plugin.names import canonical_order, to_name
from dnsauto.plugin.provider import Provider, Zone
from dnsauto.plugin.ratelimits import SharedRateLimits
from dnsauto.plugin.registry import Registry
from dnsauto.plugin.txt import txt_rdata
from dnsauto.records.dkim import DkimKey, DkimKeyStore, DkimStage
from dnsauto.state.leases import LeaseLostError, LeaseStore
from dnsauto.state.store import StateStore, ZoneMark
from dnsauto.sync.ahead import Ahead, Known
from dnsauto.sync.apply import apply_changes
from dnsauto.sync.cuts import ConfiguredZones, Cuts
from dnsauto.sync.desired import (
    DesiredInputs,
    by_zone,
    desired_inputs,
    desired_records,
    dkim_deletions,
    managed_dkim,
)
from dnsauto.sync.jobs import DomainJob, DomainResult, configured_zones, domain_jobs
from dnsauto.sync.plan import Key, ZonePlan, is_shared, plan_zone
from dnsauto.sync.propagation import (
    Expectation,
    NameserverFinder,
    PropagationChecker,
    expectations_for,
)
from dnsauto.sync.restore import RestoreTarget, plan_restore, restore_targets
from dnsauto.sync.resync import SKIPPED_UNCHANGED, desired_digest, may_skip
from dnsauto.sync.writes import Batches, WriteTurns

__all__ = [
    "DomainJob",
    "DomainResult",
    "Engine",
    "ResultNotSavedError",
    "desired_records",
    "dkim_deletions",
    "domain_jobs",
]

log = logging.getLogger(__name__)


class ResultNotSavedError(TransientError):
    """The state store could not keep the domain's result; the domain is synced again."""


@dataclass
class _Desired:
    """A domain's desired stage: what its RRsets are built from, the retired DKIM keys' RRsets
    to delete, plan warnings, and (in a sync whose provider reports a change marker) the
    digest its zone mark keeps. ``records`` stays unbuilt while the zone may be unchanged."""

    inputs: DesiredInputs
    delete: list[Key]
    warnings: list[str]
    digest: str | None = None
    mark: ZoneMark | None = None
    """The domain's zone mark, when the zone may be unchanged since the sync that kept it."""
    built: list[dns.rrset.RRset] | None = None
    named: list[dns.name.Name] | None = None
    pending: list[DkimKey] = field(default_factory=list)
    """The DKIM keys the sync read as pending: made active once their records are live."""

    def records(self) -> list[dns.rrset.RRset]:
        """The desired RRsets, built at the first call (and their names with them)."""
        if self.built is None:
            self.built = self.inputs.build()
            self.named = _names(self.built, self.delete)
        return self.built

    def names(self) -> list[dns.name.Name]:
        """The names to read: the desired RRsets' and the retired DKIM keys'."""
        self.records()
        assert self.named is not None
        return self.named


def _names(desired: Iterable[dns.rrset.RRset], delete: Iterable[Key]) -> list[dns.name.Name]:
    """The names of ``desired`` and ``delete``, once each, in DNSSEC's canonical order."""
    by_key: dict[tuple[bytes, ...], dns.name.Name] = {}
    for name in itertools.chain((r.name for r in desired), (name for name, _ in delete)):
        by_key.setdefault(canonical_order(name), name)
    return [by_key[key] for key in sorted(by_key)]


class Engine:
    """Plans and applies the records of many domains, at most ``concurrency`` at a time.

    Every batch is journaled in ``store`` before the provider is called and marked after; an
    applying run saves each domain's result there. Without a ``store`` the engine opens the
    one in ``daemon.stateDir`` and closes it in :meth:`aclose`; a given one stays open (and
    its clock drives DKIM rotation).

    A sync (``run`` with ``apply``) also takes the DKIM rotation steps that are due (see
    :mod:`dnsauto.records.rotation`): before planning it makes successors of old keys and
    retires old ones, so the desired records hold every published key and the plan deletes
    the retired keys' records; after the records are live everywhere it activates pending
    keys. A daemon therefore rotates keys by syncing; :meth:`next_dkim_event` says when the
    next step is due, to schedule a sync then.
    """

    def __init__(
        self,
        config: Config,
        registry: Registry,
        *,
        concurrency: int = 8,
        run_id: str | None = None,
        store: StateStore | None = None,
        fence: LeaseStore | None = None,
        rate_limits: SharedRateLimits | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._owns_store = store is None
        self.store = store if store is not None else config.daemon.open_store()
        self.keys = DkimKeyStore(self.store)
        self.fence = fence
        """A cluster node's leases: each batch is sent only under the domain's lease."""
        self.rate_limits = rate_limits
        """A cluster node's providers take their rate limits' tokens from these, shared."""
        self._semaphore = asyncio.Semaphore(concurrency)
        self._writes = WriteTurns(one_at_a_time=self.store.dialect == "sqlite")
        self._results: Batches[tuple[DomainResult, ZoneMark | None]] = Batches(
            self._writes,
            lambda results: self.store.save_results_at_once(self.run_id, results),
            lambda results: self.store.save_results(self.run_id, results),
        )
        """Results without a guard (no cluster lease) are saved a batch at a time."""
        self._concurrency = concurrency
        self._providers: dict[str, Provider[Any]] = {}
        self._server_fingerprints: dict[str, str] = {}
        self._ahead: Ahead | None = None
        """In a run of many domains, their zone marks and DKIM keys, read a window at a time."""
        self._zones: ConfiguredZones | None = None
        """The zones of every configured domain (:meth:`_job_zones`), made at first use."""
        self.checker = PropagationChecker(NameserverFinder(config.daemon.dns))

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()
        if self._owns_store:
            self.store.close()

    def provider(self, job: DomainJob) -> Provider[Any]:
        """The provider of ``job``'s DnsServer (one per server; per call for Manual-like ones)."""
        return self._provider(job)

    def _provider(self, job: DomainJob) -> Provider[Any]:
        info = self.registry.get(job.server.type)
        if info is not None and info.provider_class.capabilities.requires_person:
            return self.registry.create(job.server, self._context(job))
        if job.server_id not in self._providers:
            context = self._context(job)
            self._providers[job.server_id] = self.registry.create(job.server, context)
        return self._providers[job.server_id]

    def _context(self, job: DomainJob) -> ProviderContext:
        return ProviderContext(server_id=job.server_id, rate_limits=self.rate_limits)

    async def run(
        self,
        jobs: Sequence[DomainJob],
        *,
        apply: bool,
        force: bool = False,
        wait: bool = False,
        approved: Mapping[str, str] | None = None,
    ) -> list[DomainResult]:
        """Plan every job; apply the plans when ``apply``; then wait for them when ``wait``.

        ``approved`` maps a domain to the id of a plan a person approved: that plan, and no
        other, passes the unsafe-plan stop (as ``force`` lets every plan pass).
        """
        approved = approved or {}
        self._ahead = self._read_ahead(jobs)
        tasks = [
            self._guarded(job, apply=apply, force=force or approved.get(job.domain), wait=wait)
            for job in jobs
        ]
        return list(await asyncio.gather(*tasks))

    async def stream(
        self, jobs: Iterable[DomainJob], *, apply: bool, force: bool = False, wait: bool = False
    ) -> AsyncIterator[tuple[int, DomainResult]]:
        """:meth:`run`, each result handed out as its domain ends: (index in ``jobs``, result).

        At most twice ``concurrency`` domains are begun and not yet handed out, so a run of
        many domains holds a few results at a time rather than all of them (each result is
        saved in the store as its domain ends, as in :meth:`run`).
        """
        window = 2 * self._concurrency
        self._ahead = self._read_ahead(jobs)
        upcoming = enumerate(jobs)
        running: dict[asyncio.Task[DomainResult], int] = {}
        try:
            while True:
                for index, job in upcoming:
                    work = self._guarded(job, apply=apply, force=force, wait=wait)
                    running[asyncio.create_task(work)] = index
                    if len(running) >= window:
                        break
                if not running:
                    return
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield running.pop(task), task.result()
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    def _read_ahead(self, jobs: Iterable[DomainJob]) -> Ahead | None:
        """The read-ahead of a run of many domains given in a known order; None for a run of
        one (the daemon runs each domain on its own), whose sync reads for itself."""
        if not isinstance(jobs, Sequence) or len(jobs) < 2:
            return None
        return Ahead(self.store, [job.domain for job in jobs])

    async def restore(
        self, run_id: str, *, apply: bool = True, wait: bool = False
    ) -> list[DomainResult]:
        """Undo run ``run_id`` (see :mod:`dnsauto.sync.restore`) as this engine's run.

        One result per (domain, zone) the run touched. The changes go through the journal
        like a sync's; RRsets changed since the run are listed in ``conflicts`` and make the
        result an error, but the others are still restored.

        :raises DnsautoError: the journal has no entry of that run.
        """
        entries = self.store.journal(run_id=run_id)
        if not entries:
            raise DnsautoError(f"the journal has no change of run {run_id!r}")
        groups: dict[tuple[str, str], list[RestoreTarget]] = {}
        for target in restore_targets(entries):
            groups.setdefault((target.domain, target.zone), []).append(target)
        tasks = [
            self._restored(run_id, domain, targets, apply=apply, wait=wait)
            for (domain, _), targets in groups.items()
        ]
        return list(await asyncio.gather(*tasks))

    async def _restored(
        self,
        run_id: str,
        domain: str,
        targets: Sequence[RestoreTarget],
        *,
        apply: bool,
        wait: bool,
    ) -> DomainResult:
        result = DomainResult(domain=domain, server_id="", zone=targets[0].zone)
        started = time.monotonic()
        async with self._semaphore:
            try:
                (job,) = domain_jobs(self.config, [domain])
                result.server_id = job.server_id
                if apply:
                    self._check_lease(domain)
                provider = self._provider(job)
                if provider.capabilities.requires_person:
                    raise DnsautoError(f"{domain} is published by hand; restore it by hand")
                zone = await provider.find_zone(dns.name.from_text(targets[0].zone))
                names = sorted({t.name for t in targets})
                listed = await provider.list_rrsets(
                    zone, names if provider.capabilities.can_list_names else None
                )
                plan, result.conflicts = plan_restore(zone.name, run_id, targets, listed)
                result.plan = plan
                if apply:
                    self.store.forget_zone_mark(domain)  # the next sync reads it in full
                if apply and plan.changes:
                    await apply_changes(
                        self.store,
                        self.run_id,
                        provider,
                        job,
                        zone,
                        plan.changes,
                        result,
                        fence=self.fence,
                        turns=self._writes,
                    )
                    if wait:
                        await self._wait(job, result)
                if result.conflicts:
                    summary = (
                        f"{len(result.conflicts)} record set(s) changed since run {run_id} "
                        "and were left as they are"
                    )
                    result.error = f"{summary}; {result.error}" if result.error else summary
            except DnsautoError as exc:
                result.error, result.exception = exc.message, exc
            except Exception as exc:  # a bug: keep the other domains
                log.exception("restoring %s failed", domain)
                result.error = f"internal error: {type(exc).__name__}: {exc}"
        result.seconds = round(time.monotonic() - started, 3)
        return result

    async def check(self, jobs: Sequence[DomainJob]) -> list[DomainResult]:
        """Compare what every authoritative nameserver serves with the desired records."""
        return list(await asyncio.gather(*(self._checked(job) for job in jobs)))

    async def _guarded(
        self, job: DomainJob, *, apply: bool, force: bool | str | None, wait: bool
    ) -> DomainResult:
        result = DomainResult(domain=job.domain, server_id=job.server_id)
        started = time.monotonic()
        async with self._semaphore:
            try:
                if apply:
                    self._check_lease(job.domain)
                want = await self._run_one(job, result, apply=apply, force=force)
                if wait and result.error is None:
                    await self._wait(job, result)
                if apply and wait and result.error is None:
                    await self._activate_dkim(job, want.pending)
            except DnsautoError as exc:
                result.error, result.exception = exc.message, exc
            except Exception as exc:  # a bug or an unmapped library error: keep other domains
                log.exception("domain %s failed", job.domain)
                result.error = f"internal error: {type(exc).__name__}: {exc}"
        result.seconds = round(time.monotonic() - started, 3)
        if apply:
            await self._save_result(result)
        return result

    async def _save_result_now(self, result: DomainResult) -> None:
        if self.fence is None:
            await self._results.save((result, result.zone_mark))
            return
        guard = self.fence.guard
        save = functools.partial(
            self.store.save_result, self.run_id, result, zone_mark=result.zone_mark, guard=guard
        )
        at_once = functools.partial(
            self.store.save_result_at_once,
            self.run_id,
            result,
            zone_mark=result.zone_mark,
            guard=guard,
        )
        await self._writes.done(at_once, save)

    def _check_lease(self, domain: str) -> None:
        """With a fence, a domain whose lease this process did not get is not synced: the
        node that holds it does (:class:`LeaseHeldError`, naming it). The daemon runs only
        domains it holds; ``dnsauto sync`` and ``restore`` claim theirs first."""
        if self.fence is not None and self.fence.token_of(domain) is None:
            raise self.fence.refusal(domain)

    async def _save_result(self, result: DomainResult) -> None:
        """Keep the domain's result for ``dnsauto status``, with its zone mark (see
        :meth:`StateStore.save_result`).

        A result the store cannot keep is no success: a domain that synced fails then with a
        :class:`ResultNotSavedError`, transient, so the daemon syncs it again with its backoff
        (that sync finds the records applied and applies nothing twice); a domain that failed
        keeps its own error. On a cluster node the result is saved only while this node holds
        the domain's lease, checked in the same transaction; a sync stopped because another
        node took the lease keeps none, nor one that ended after it was taken (a paused
        node's timeout): that node's result is the domain's, and this one, saved later, would
        hide it."""
        if isinstance(result.exception, LeaseLostError):
            return
        try:
            await self._save_result_now(result)
        except LeaseLostError:  # taken over meanwhile (this node was paused)
            log.warning(
                "%s: the lease was lost during the sync; its result is dropped", result.domain
            )
        except DnsautoError as exc:
            log.error("%s: cannot save the result: %s", result.domain, exc.message)
            if result.error is None:
                error = ResultNotSavedError(f"cannot save the result: {exc.message}")
                result.error, result.exception = error.message, error

    async def _desired_stage(
        self, job: DomainJob, provider: Provider[Any], *, apply: bool
    ) -> _Desired:
        """:meth:`_desired`, on the event loop when it needs neither the state store nor a
        lock: the configured zones made, the domain's mark and DKIM keys read with those of
        its window, and its keys needing nothing done (the usual sync). Else in a worker
        thread: a hand-off there and back cost more than an unchanged domain's whole stage."""
        known = None
        if self._zones is not None and self._ahead is not None:
            known = self._ahead.read_already(job.domain)
            if known is not None:
                want = self._desired(job, provider, apply=apply, known=known, at_once=True)
                if want is not None:
                    return want
        stage = functools.partial(self._desired, job, provider, apply=apply, known=known)
        found = await asyncio.to_thread(stage)
        assert found is not None  # only at_once gives up
        return found

    def _desired(
        self,
        job: DomainJob,
        provider: Provider[Any],
        *,
        apply: bool,
        known: Known | None = None,
        at_once: bool = False,
    ) -> _Desired | None:
        """The desired stage of ``job``; its RRsets built unless its zone may be unchanged
        since the last sync (:mod:`dnsauto.sync.resync`: then only the marker is asked).

        A sync (``apply``) takes the DKIM rotation steps due now first. A rotation that
        cannot proceed (a selector template that repeats itself) must not stop the domain's
        other records, so it is a warning and the current keys stay. The keys are read once
        for all three (:meth:`DkimKeyStore.for_sync`).

        ``known``: the domain's mark and keys as read ahead (else asked of the
        :class:`Ahead` here). ``at_once``: None rather than lock or change the DKIM keys.
        """
        # Every sync needs the configured zones (its zone cuts); made here, in the worker
        # thread, at the first sync after a configuration change rather than on the event
        # loop, where walking 16,000 domains for them held it 86 ms.
        zones = self._job_zones()
        if known is None and self._ahead is not None:
            known = self._ahead.known(job.domain)
        want = self._dkim_desired(job, provider, rotate=apply, known=known, at_once=at_once)
        if want is None:
            return None
        if apply and provider.capabilities.change_marker:
            want.digest = desired_digest(
                job,
                self._server_fingerprint(job),
                want.inputs,
                zones.below(job.zone_name),
            )
            mark = known.mark if known is not None else self.store.zone_mark(job.domain)
            if may_skip(
                mark,
                want.digest,
                want.delete,
                now=self.store.clock(),
                full_read_interval=self.config.daemon.full_read_interval,
            ):
                want.mark = mark
        if want.mark is None:
            want.records()
        return want

    def _dkim_desired(
        self,
        job: DomainJob,
        provider: Provider[Any],
        *,
        rotate: bool,
        known: Known | None = None,
        at_once: bool = False,
    ) -> _Desired | None:
        dkim = managed_dkim(job)
        if dkim is None:
            return _Desired(desired_inputs(self.config, job, self.keys), [], [])
        rotate = rotate and not provider.capabilities.requires_person
        rows = known.keys if known is not None else None
        if at_once:
            settled = self.keys.settled(job.domain, dkim, rotate=rotate, known=rows)
            if settled is None:
                return None
            keys = settled
        else:
            keys = self.keys.for_sync(job.domain, dkim, rotate=rotate, known=rows)
        for note in keys.notes:
            log.info("%s: DKIM %s", job.domain, note)
        warnings = [f"DKIM rotation: {keys.rotation_error}"] if keys.rotation_error else []
        inputs = desired_inputs(self.config, job, self.keys, dkim_keys=keys.published)
        delete = [(name, dns.rdatatype.TXT) for name in keys.retired_names]
        pending = [key for key in keys.published if key.stage == DkimStage.PENDING]
        return _Desired(inputs, delete, warnings, pending=pending)

    async def _activate_dkim(self, job: DomainJob, pending: Sequence[DkimKey]) -> None:
        """Make the ``pending`` DKIM keys (as the sync read them: no read of the store per
        domain here, on the event loop) active once every nameserver serves their records."""
        provider = self._provider(job)
        if not pending or provider.capabilities.requires_person:
            return
        server = job.server
        zone = await provider.find_zone(job.zone_name)
        expectations = [
            Expectation.of(
                dns.rrset.from_rdata(key.record_name(job.domain), 0, txt_rdata(key.public_value))
            )
            for key in pending
        ]
        outcome = await self.checker.wait(
            zone.name,
            expectations,
            interval=server.polling_interval.total_seconds(),
            propagation_timeout=server.propagation_timeout.total_seconds(),
            query_timeout=server.timeout.total_seconds(),
        )
        if outcome.propagated:
            selectors = [k.selector for k in pending]
            for note in await asyncio.to_thread(self.keys.activate, job.domain, selectors):
                log.info("%s: DKIM %s", job.domain, note)

    def next_dkim_event(self, jobs: Sequence[DomainJob]) -> datetime | None:
        """When the next time-driven DKIM rotation step of these domains is due, if any."""
        times = [
            moment
            for job in jobs
            if (dkim := managed_dkim(job)) is not None
            and (moment := self.keys.next_event(job.domain, dkim)) is not None
        ]
        return min(times, default=None)

    async def _checked(self, job: DomainJob) -> DomainResult:
        result = DomainResult(domain=job.domain, server_id=job.server_id)
        started = time.monotonic()
        async with self._semaphore:
            try:
                zone = job.zone_name
                result.zone = zone.to_text()
                timeout = job.server.timeout.total_seconds()
                expectations = self._desired_expectations(job)
                outcome = await self.checker.snapshot(zone, expectations, query_timeout=timeout)
                result.propagation = outcome
                result.propagated = outcome.propagated
            except DnsautoError as exc:
                result.error, result.exception = exc.message, exc
        result.seconds = round(time.monotonic() - started, 3)
        return result

    def _desired_expectations(self, job: DomainJob) -> list[Expectation]:
        """Every desired RRset of the domain's zone as served; at shared names as a plan
        would merge it. Those in another configured domain's zone are that domain's to check."""
        here, _ = by_zone(job, desired_records(self.config, job, self.keys), self._job_zones())
        return [
            Expectation.shared(r) if is_shared(r.name, r.rdtype) else Expectation.of(r)
            for r in here
        ]

    def _job_zones(self) -> ConfiguredZones:
        if self._zones is None:
            self._zones = configured_zones(self.config)
        return self._zones

    async def _cuts(
        self,
        job: DomainJob,
        provider: Provider[Any],
        zone: Zone,
        names: Sequence[dns.name.Name],
    ) -> Cuts:
        """The zones below ``zone`` that hold ``names``: the configured domains' and the
        provider's (those no configured domain publishes)."""
        found = await provider.subzones(zone, names)
        configured = self._job_zones().between(zone.name, names, own=job.zone_name)
        return {**dict.fromkeys(found), **configured}

    async def _wait(self, job: DomainJob, result: DomainResult) -> None:
        """Wait until every nameserver of the zone serves the changes applied.

        A sync that changed nothing waits instead for what the provider holds at the desired
        names: an earlier sync may have ended before a lagging nameserver caught up, and
        "nothing to do" is no proof that the records are live.
        """
        provider = self._provider(job)
        if provider.capabilities.requires_person or result.zone is None or result.plan is None:
            return
        applied = result.changes[: result.applied]
        zone = result.found_zone
        if zone is None or zone.name.to_text() != result.zone:
            zone = await provider.find_zone(dns.name.from_text(result.zone))
        if applied:
            await provider.wait_live(zone)
            expectations = expectations_for(applied)
        elif result.skipped:
            expectations = self._desired_expectations(job)
        else:
            expectations = [
                Expectation.of(r, exact=not is_shared(r.name, r.rdtype))
                for r in result.provider_rrsets
            ]
        server = job.server
        delay = 0.0
        if applied and server.propagation_delay is not None:
            delay = server.propagation_delay.total_seconds()
        outcome = await self.checker.wait(
            zone.name,
            expectations,
            delay=delay,
            interval=server.polling_interval.total_seconds(),
            propagation_timeout=server.propagation_timeout.total_seconds(),
            query_timeout=server.timeout.total_seconds(),
        )
        result.propagation = outcome
        result.propagated = outcome.propagated
        if not outcome.propagated:
            lagging = ", ".join(outcome.lagging_nameservers)
            result.error = (
                f"not live on every nameserver after "
                f"{server.propagation_timeout.total_seconds():g}s; lagging: {lagging}"
            )

    async def _run_one(
        self, job: DomainJob, result: DomainResult, *, apply: bool, force: bool | str | None
    ) -> _Desired:
        """Read, plan and (``apply``) write one domain; its desired stage, as it was built."""
        provider = self._provider(job)
        # In a worker thread: DKIM key generation and the key store's writes must not stall
        # the event loop (or wait there for another writer's transaction).
        want = await self._desired_stage(job, provider, apply=apply)
        rotation_warnings = want.warnings
        zone, listed = await self._read(job, provider, want, result)
        result.zone = zone.name.to_text()
        if listed is None:  # unchanged since the last sync: nothing to plan
            result.plan = ZonePlan(zone.name, warnings=list(rotation_warnings))
            return want
        cuts = await self._cuts(job, provider, zone, want.names())
        plan = await self._plan(provider, zone, want, result, listed=listed, cuts=cuts)
        plan.warnings.extend(rotation_warnings)
        result.plan = plan
        if apply and any(group.domain is None for group in plan.elsewhere):
            # Only a read shows the provider's zone cuts: without a mark the next sync reads
            # again, rather than expect the records left out to be live in this zone.
            result.zone_mark = None
            await asyncio.to_thread(self.store.forget_zone_mark, job.domain)
        if not apply or not plan.changes:
            return want
        await self._check_safe(job, zone, plan, result, force=force)
        try:
            await self._apply(provider, job, zone, plan.changes, result)
        except ConflictError as exc:
            log.warning("%s: %s; reading again and planning once more", job.domain, exc.message)
            plan = await self._plan(provider, zone, want, result, cuts=cuts)
            plan.warnings.extend(rotation_warnings)
            result.plan = plan
            await self._check_safe(job, zone, plan, result, force=force)
            await self._apply(provider, job, zone, plan.changes, result)
        if provider.capabilities.requires_person:
            result.instructions.extend(provider.context.instructions)
        await self._mark_after_write(provider, zone, result)
        return want

    async def _read(
        self, job: DomainJob, provider: Provider[Any], want: _Desired, result: DomainResult
    ) -> tuple[Zone, list[dns.rrset.RRset] | None]:
        """The zone and what it holds at the desired names, or None for the records when
        the zone is unchanged since the last sync (:mod:`dnsauto.sync.resync`): then only
        its change marker was asked for. Notes in ``result`` the mark a success keeps."""
        name = job.zone_name
        now = self.store.clock()
        mark = want.mark
        if mark is not None:
            zone = await provider.find_zone(name)
            if zone.marker is not None and zone.marker == mark.marker and str(zone) == mark.zone:
                result.skipped = SKIPPED_UNCHANGED
                return zone, None
            await asyncio.to_thread(want.records)
            listed = await provider.list_rrsets(
                zone, want.names() if provider.capabilities.can_list_names else None
            )
        else:
            zone, listed = await provider.read_zone(name, want.names())
        if zone.marker is not None and want.digest is not None:
            result.zone_mark = ZoneMark(job.domain, str(zone), zone.marker, want.digest, now)
        return zone, listed

    async def _mark_after_write(
        self, provider: Provider[Any], zone: Zone, result: DomainResult
    ) -> None:
        """After a write the mark keeps the zone's marker as the write left it."""
        if result.zone_mark is None or not result.applied:
            return
        marker = await provider.change_marker(zone)
        result.zone_mark = None if marker is None else replace(result.zone_mark, marker=marker)

    def _server_fingerprint(self, job: DomainJob) -> str:
        """The DnsServer's settings as text (secrets masked), made once per server."""
        fingerprint = self._server_fingerprints.get(job.server_id)
        if fingerprint is None:
            fingerprint = job.server.model_dump_json()
            self._server_fingerprints[job.server_id] = fingerprint
        return fingerprint

    async def _apply(
        self,
        provider: Provider[Any],
        job: DomainJob,
        zone: Zone,
        changes: Sequence[Change],
        result: DomainResult,
    ) -> None:
        await apply_changes(
            self.store,
            self.run_id,
            provider,
            job,
            zone,
            changes,
            result,
            fence=self.fence,
            turns=self._writes,
        )

    async def _check_safe(
        self,
        job: DomainJob,
        zone: Zone,
        plan: ZonePlan,
        result: DomainResult,
        *,
        force: bool | str | None,
    ) -> None:
        """The unsafe-plan stop; ``force`` True passes every plan, a plan id only that plan."""
        if force is True or (isinstance(force, str) and force == plan.plan_id()):
            return
        owned = None
        if plan.removed_values():  # only then can it be unsafe, and whose values they are matter
            owned = await asyncio.to_thread(self._written_by_dnsauto, job, zone)
        try:
            plan.raise_if_unsafe(owned=owned)
        except UnsafePlanError:
            result.unsafe_plan = plan.plan_id()
            raise

    def _written_by_dnsauto(self, job: DomainJob, zone: Zone) -> dict[Key, set[str]]:
        """The values at each (name, type) of the zone that dnsauto wrote and has not replaced
        since, by the journal: each change owns what it added (``new`` minus ``old``) and keeps
        owning what is still in its ``new``. Failed changes wrote nothing; a pending one (a
        crash mid-call) may have, so it counts."""
        owned: dict[Key, set[str]] = {}
        zone_text = str(zone)
        for entry in self.store.journal(domain=job.domain):
            if entry.zone != zone_text or entry.status == "failed":
                continue
            key = (to_name(entry.name), dns.rdatatype.from_text(entry.type))
            new = set(entry.new)
            owned[key] = (owned.get(key, set()) | (new - set(entry.old))) & new
        return owned

    async def _plan(
        self,
        provider: Provider[Any],
        zone: Zone,
        want: _Desired,
        result: DomainResult,
        *,
        listed: list[dns.rrset.RRset] | None = None,
        cuts: Cuts | None = None,
    ) -> ZonePlan:
        result.found_zone = zone
        desired, delete, names = want.records(), want.delete, want.names()
        if listed is None:
            listed = await provider.list_rrsets(
                zone, names if provider.capabilities.can_list_names else None
            )
        # Keyed by lower-case labels: a dnspython Name hashes a character at a time.
        wanted = {canonical_order(name) for name in names}
        current = [r for r in listed if canonical_order(r.name) in wanted]
        plan = plan_zone(
            zone.name, desired, current, delete=delete, min_ttl=zone.min_ttl, cuts=cuts
        )
        elsewhere = {(canonical_order(n), t) for group in plan.elsewhere for n, t in group.keys}
        keys = {(canonical_order(r.name), r.rdtype) for r in desired} - elsewhere
        result.provider_rrsets = [r for r in current if (canonical_order(r.name), r.rdtype) in keys]
        return plan
