"""One sync of many domains: desired -> current -> plan -> apply, with errors kept per domain.

A failure in one domain is reported in its :class:`DomainResult` and never stops the others.
Propagation checks are the next stage's job (:mod:`dnsauto.propagation`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dns.name
import dns.rdatatype
import dns.rrset

from dnsauto.changes import Change
from dnsauto.config.dnsserver import DnsServerBase, ManualDnsServer
from dnsauto.config.domain import (
    ZONE_FILE_RECORDS,
    AutomaticDkim,
    AutomaticDns,
    DnsRecordType,
    Domain,
)
from dnsauto.config.model import Config
from dnsauto.errors import (
    ConfigError,
    ConflictError,
    DnsautoError,
    PartialApplyError,
    UnsafePlanError,
)
from dnsauto.plan import Key, ZonePlan, is_shared, plan_zone
from dnsauto.propagation import (
    Expectation,
    NameserverFinder,
    PropagationChecker,
    PropagationResult,
    expectations_for,
)
from dnsauto.provider import Provider, ProviderContext, Registry, Zone
from dnsauto.records.dkim import DkimKey, DkimKeyStore
from dnsauto.records.mail import build_records
from dnsauto.records.names import lookup_key, to_name
from dnsauto.records.txt import txt_rdata
from dnsauto.restore import RestoreTarget, plan_restore, restore_targets
from dnsauto.state import StateStore

__all__ = [
    "DomainJob",
    "DomainResult",
    "Engine",
    "desired_records",
    "dkim_deletions",
    "domain_jobs",
]

log = logging.getLogger(__name__)

MANUAL_SERVER_ID = "manual"
_MANUAL_SERVER = ManualDnsServer.model_validate({"@type": "Manual"})


@dataclass(frozen=True)
class DomainJob:
    """What to publish for one domain, and where."""

    domain: str
    settings: Domain
    server_id: str
    server: DnsServerBase
    publish: tuple[DnsRecordType, ...]
    origin: str | None = None


@dataclass
class DomainResult:
    """What happened to one domain in a plan or sync."""

    domain: str
    server_id: str
    zone: str | None = None
    plan: ZonePlan | None = None
    applied: int = 0
    error: str | None = None
    seconds: float = 0.0
    propagated: bool = False
    propagation: PropagationResult | None = None
    instructions: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    """RRsets a restore left alone because they changed after the run it undoes."""
    provider_rrsets: list[dns.rrset.RRset] = field(default_factory=list)
    """What the provider held at the desired (name, type)s when the plan was made."""
    unsafe_plan: str | None = None
    """The id of the plan the unsafe-plan stop refused; an approval of it lets it through."""
    not_applied: list[Change] = field(default_factory=list)
    """The plan's changes an apply that failed did not (or only partly) carry out."""

    @property
    def changes(self) -> list[Change]:
        return self.plan.changes if self.plan is not None else []

    @property
    def warnings(self) -> list[str]:
        return self.plan.warnings if self.plan is not None else []


def domain_jobs(config: Config, only: Sequence[str] = ()) -> list[DomainJob]:
    """The domains of the configuration (or the chosen ones), each with its DnsServer."""
    domains = config.domains
    wanted = [lookup_key(d) for d in only]
    unknown = [d for d in wanted if d not in domains]
    if unknown:
        raise ConfigError(
            f"--domain {', '.join(unknown)}: not a configured domain "
            f"(configured: {', '.join(sorted(domains))})"
        )
    chosen = set(wanted)
    return [
        _job(config, name, settings)
        for name, settings in domains.items()
        if not chosen or name in chosen
    ]


def _job(config: Config, name: str, settings: Domain) -> DomainJob:
    dns = settings.dns_management
    if isinstance(dns, AutomaticDns):
        server = config.servers[dns.dns_server_id]
        return DomainJob(name, settings, dns.dns_server_id, server, dns.publish_records, dns.origin)
    server = config.bootstrap.dns_server
    if not isinstance(server, ManualDnsServer):
        server = _MANUAL_SERVER
    return DomainJob(name, settings, MANUAL_SERVER_ID, server, ZONE_FILE_RECORDS)


def _managed_dkim(job: DomainJob) -> AutomaticDkim | None:
    """The domain's DKIM management when dnsauto makes and publishes its keys."""
    dkim = job.settings.dkim_management
    if isinstance(dkim, AutomaticDkim) and DnsRecordType.DKIM in job.publish:
        return dkim
    return None


def desired_records(
    config: Config,
    job: DomainJob,
    keys: DkimKeyStore,
    *,
    dkim_keys: Sequence[DkimKey] | None = None,
) -> list[dns.rrset.RRset]:
    """The RRsets the domain needs, DKIM keys made (once) when they are to be published.

    Every DKIM key in a published stage (pending, active, retiring) gets its TXT record;
    ``dkim_keys`` are those keys when the caller has read them already.
    """
    dkim = _managed_dkim(job)
    if dkim_keys is None:
        dkim_keys = keys.published(job.domain, dkim) if dkim is not None else []
    return build_records(
        domain=job.domain,
        publish=job.publish,
        settings=job.settings,
        server_hostname=config.bootstrap.server_hostname,
        mail_server=config.mail_server,
        ttl=job.server.ttl_seconds,
        dkim_keys=list(dkim_keys),
    )


def dkim_deletions(job: DomainJob, keys: DkimKeyStore) -> list[Key]:
    """The (name, TXT) RRsets of the domain's retired DKIM keys, which a sync deletes."""
    if _managed_dkim(job) is None:
        return []
    return [(name, dns.rdatatype.TXT) for name in keys.retired_names(job.domain)]


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
    ) -> None:
        self.config = config
        self.registry = registry
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._owns_store = store is None
        self.store = store if store is not None else StateStore(config.daemon.state_dir)
        self.keys = DkimKeyStore(self.store)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._providers: dict[str, Provider[Any]] = {}
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

    def _provider(self, job: DomainJob) -> Provider[Any]:
        info = self.registry.get(job.server.type)
        if info is not None and info.provider_class.capabilities.requires_person:
            return self.registry.create(job.server, ProviderContext(server_id=job.server_id))
        if job.server_id not in self._providers:
            context = ProviderContext(server_id=job.server_id)
            self._providers[job.server_id] = self.registry.create(job.server, context)
        return self._providers[job.server_id]

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
        tasks = [
            self._guarded(job, apply=apply, force=force or approved.get(job.domain), wait=wait)
            for job in jobs
        ]
        return list(await asyncio.gather(*tasks))

    async def restore(
        self, run_id: str, *, apply: bool = True, wait: bool = False
    ) -> list[DomainResult]:
        """Undo run ``run_id`` (see :mod:`dnsauto.restore`) as this engine's run.

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
                if apply and plan.changes:
                    await self._apply(provider, job, zone, plan.changes, result)
                    if wait:
                        await self._wait(job, result)
                if result.conflicts:
                    summary = (
                        f"{len(result.conflicts)} record set(s) changed since run {run_id} "
                        "and were left as they are"
                    )
                    result.error = f"{summary}; {result.error}" if result.error else summary
            except DnsautoError as exc:
                result.error = exc.message
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
                await self._run_one(job, result, apply=apply, force=force)
                if wait and result.error is None:
                    await self._wait(job, result)
                if apply and wait and result.error is None:
                    await self._activate_dkim(job)
            except DnsautoError as exc:
                result.error = exc.message
            except Exception as exc:  # a bug or an unmapped library error: keep other domains
                log.exception("domain %s failed", job.domain)
                result.error = f"internal error: {type(exc).__name__}: {exc}"
        result.seconds = round(time.monotonic() - started, 3)
        if apply:
            await self._save_result(result)
        return result

    async def _save_result(self, result: DomainResult) -> None:
        """Keep the domain's result for ``dnsauto status``; a store failure is only logged."""
        try:
            await asyncio.to_thread(self.store.save_result, self.run_id, result)
        except DnsautoError as exc:
            log.error("%s: cannot save the result: %s", result.domain, exc.message)

    def _desired(
        self, job: DomainJob, provider: Provider[Any], *, rotate: bool
    ) -> tuple[list[dns.rrset.RRset], list[Key], list[str]]:
        """The desired RRsets, the retired DKIM keys' RRsets to delete, and plan warnings.

        With ``rotate`` the DKIM rotation steps due now are taken first. A rotation that
        cannot proceed (a selector template that repeats itself) must not stop the domain's
        other records, so it is a warning and the current keys stay. The keys are read once
        for all three (:meth:`DkimKeyStore.for_sync`).
        """
        dkim = _managed_dkim(job)
        if dkim is None:
            return desired_records(self.config, job, self.keys), [], []
        rotate = rotate and not provider.capabilities.requires_person
        keys = self.keys.for_sync(job.domain, dkim, rotate=rotate)
        for note in keys.notes:
            log.info("%s: DKIM %s", job.domain, note)
        warnings = [f"DKIM rotation: {keys.rotation_error}"] if keys.rotation_error else []
        desired = desired_records(self.config, job, self.keys, dkim_keys=keys.published)
        delete = [(name, dns.rdatatype.TXT) for name in keys.retired_names]
        return desired, delete, warnings

    async def _activate_dkim(self, job: DomainJob) -> None:
        """Make pending DKIM keys active once every nameserver serves their records."""
        if _managed_dkim(job) is None:
            return
        provider = self._provider(job)
        pending = self.keys.pending(job.domain)
        if not pending or provider.capabilities.requires_person:
            return
        server = job.server
        zone = await provider.find_zone(to_name(job.origin or job.domain))
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
            if (dkim := _managed_dkim(job)) is not None
            and (moment := self.keys.next_event(job.domain, dkim)) is not None
        ]
        return min(times, default=None)

    async def _checked(self, job: DomainJob) -> DomainResult:
        result = DomainResult(domain=job.domain, server_id=job.server_id)
        started = time.monotonic()
        async with self._semaphore:
            try:
                zone = to_name(job.origin or job.domain)
                result.zone = zone.to_text()
                timeout = job.server.timeout.total_seconds()
                expectations = self._desired_expectations(job)
                outcome = await self.checker.snapshot(zone, expectations, query_timeout=timeout)
                result.propagation = outcome
                result.propagated = outcome.propagated
            except DnsautoError as exc:
                result.error = exc.message
        result.seconds = round(time.monotonic() - started, 3)
        return result

    def _desired_expectations(self, job: DomainJob) -> list[Expectation]:
        """Every desired RRset as served; at shared names as a plan would merge it."""
        return [
            Expectation.shared(r) if is_shared(r.name, r.rdtype) else Expectation.of(r)
            for r in desired_records(self.config, job, self.keys)
        ]

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
        zone = await provider.find_zone(dns.name.from_text(result.zone))
        if applied:
            await provider.wait_live(zone)
            expectations = expectations_for(applied)
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
    ) -> None:
        provider = self._provider(job)
        # In a worker thread: DKIM key generation and the key store's writes must not stall
        # the event loop (or wait there for another writer's transaction).
        desired, delete, rotation_warnings = await asyncio.to_thread(
            self._desired, job, provider, rotate=apply
        )
        zone = await provider.find_zone(to_name(job.origin or job.domain))
        result.zone = zone.name.to_text()
        plan = await self._plan(provider, zone, desired, result, delete=delete)
        plan.warnings.extend(rotation_warnings)
        result.plan = plan
        if not apply or not plan.changes:
            return
        self._check_safe(job, zone, plan, result, force=force)
        try:
            await self._apply(provider, job, zone, plan.changes, result)
        except ConflictError as exc:
            log.warning("%s: %s; reading again and planning once more", job.domain, exc.message)
            plan = await self._plan(provider, zone, desired, result, delete=delete)
            plan.warnings.extend(rotation_warnings)
            result.plan = plan
            self._check_safe(job, zone, plan, result, force=force)
            await self._apply(provider, job, zone, plan.changes, result)
        if provider.capabilities.requires_person:
            result.instructions.extend(provider.context.instructions)

    def _check_safe(
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
        try:
            plan.raise_if_unsafe(owned=self._written_by_dnsauto(job, zone))
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
        desired: list[dns.rrset.RRset],
        result: DomainResult,
        *,
        delete: Sequence[Key] = (),
    ) -> ZonePlan:
        names = sorted({r.name for r in desired} | {name for name, _ in delete})
        listed = await provider.list_rrsets(
            zone, names if provider.capabilities.can_list_names else None
        )
        wanted: set[dns.name.Name] = set(names)
        current = [r for r in listed if r.name in wanted]
        keys = {(r.name, r.rdtype) for r in desired}
        result.provider_rrsets = [r for r in current if (r.name, r.rdtype) in keys]
        return plan_zone(zone.name, desired, current, delete=delete, min_ttl=zone.min_ttl)

    async def _apply(
        self,
        provider: Provider[Any],
        job: DomainJob,
        zone: Zone,
        changes: Sequence[Change],
        result: DomainResult,
    ) -> None:
        size = provider.capabilities.max_changes_per_batch or len(changes)
        result.not_applied = []
        if provider.capabilities.requires_person:
            await provider.apply(zone, changes)
            result.applied = len(changes)
            return
        for start in range(0, len(changes), size):
            batch = changes[start : start + size]
            # The store's writes run in a worker thread: another writer's transaction (an
            # API /set of thousands of objects) would otherwise hold the event loop.
            ids = await asyncio.to_thread(
                self.store.journal_before_apply, self.run_id, job.domain, str(zone), batch
            )
            try:
                await provider.apply(zone, batch)
            except PartialApplyError as exc:
                await asyncio.to_thread(self._journal_partial, ids, batch, exc)
                result.applied += len(exc.applied)
                result.not_applied = [*exc.partly_applied, *exc.not_applied]
                result.not_applied += changes[start + size :]
                exc.args = (f"{exc.message}; not applied: {_listed(result.not_applied)}",)
                raise
            except DnsautoError as exc:
                await asyncio.to_thread(self.store.journal_after_apply, ids, exc.message)
                result.not_applied = list(changes[start:])
                if start:
                    exc.args = (
                        f"{exc.message} (batch {start // size + 1}: {start} of "
                        f"{len(changes)} changes were applied before it)",
                    )
                raise
            except BaseException as exc:
                self._mark_interrupted(ids, exc)
                raise
            await asyncio.to_thread(self.store.journal_after_apply, ids, None)
            result.applied += len(batch)

    def _journal_partial(
        self, ids: Sequence[int], batch: Sequence[Change], exc: PartialApplyError
    ) -> None:
        """Mark what a partly failed batch applied as applied, the rest as failed."""
        entry = {id(change): entry_id for change, entry_id in zip(batch, ids, strict=True)}
        self.store.journal_after_apply([entry[id(c)] for c in exc.applied], None)
        partly = [entry[id(c)] for c in exc.partly_applied]
        self.store.journal_after_apply(partly, f"partly applied: {exc.message}")
        self.store.journal_after_apply([entry[id(c)] for c in exc.not_applied], exc.message)

    def _mark_interrupted(self, ids: Sequence[int], exc: BaseException) -> None:
        """Mark a batch whose provider call ended in a bug or a cancellation as failed.

        The batch may be partly applied; a restore checks what is served before it acts.
        Any store error here is logged, so the original exception is the one raised.
        """
        if isinstance(exc, asyncio.CancelledError):
            why = "cancelled while the provider was applying it; it may be partly applied"
        else:
            why = f"internal error: {type(exc).__name__}: {exc}"
        try:
            self.store.journal_after_apply(ids, why)
        except DnsautoError as error:
            log.error("cannot mark journal entries %s: %s", list(ids), error.message)


def _listed(changes: Sequence[Change]) -> str:
    """Changes as ``action TYPE name``, for an error message."""
    return ", ".join(f"{c.action} {c.rdtype.name} {c.name.to_text()}" for c in changes)
