"""One sync of many domains: desired -> current -> plan -> apply, with errors kept per domain.

A failure in one domain is reported in its :class:`DomainResult` and never stops the others.
Propagation checks are the next stage's job (:mod:`dnsauto.propagation`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.name
import dns.rrset

from dnsauto.changes import Change
from dnsauto.config.dnsserver import DnsServerBase, ManualDnsServer
from dnsauto.config.domain import (
    BOOTSTRAP_PUBLISH_RECORDS,
    DEFAULT_PUBLISH_RECORDS,
    AutomaticDkim,
    AutomaticDns,
    DnsRecordType,
    Domain,
)
from dnsauto.config.model import Config
from dnsauto.errors import ConfigError, ConflictError, DnsautoError
from dnsauto.journal import Journal
from dnsauto.plan import ZonePlan, is_shared, plan_zone
from dnsauto.propagation import (
    Expectation,
    NameserverFinder,
    PropagationChecker,
    PropagationResult,
    expectations_for,
)
from dnsauto.provider import Provider, ProviderContext, Registry, Zone
from dnsauto.records.dkim import DkimKeyStore
from dnsauto.records.mail import build_records
from dnsauto.records.names import to_name

__all__ = ["DomainJob", "DomainResult", "Engine", "desired_records", "domain_jobs"]

log = logging.getLogger(__name__)

MANUAL_SERVER_ID = "manual"


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

    @property
    def changes(self) -> list[Change]:
        return self.plan.changes if self.plan is not None else []

    @property
    def warnings(self) -> list[str]:
        return self.plan.warnings if self.plan is not None else []


def domain_jobs(config: Config, only: Sequence[str] = ()) -> list[DomainJob]:
    """The domains of the configuration (or the chosen ones), each with its DnsServer."""
    domains = config.domains
    wanted = [d.rstrip(".").lower() for d in only]
    unknown = [d for d in wanted if d not in domains]
    if unknown:
        raise ConfigError(
            f"--domain {', '.join(unknown)}: not a configured domain "
            f"(configured: {', '.join(sorted(domains))})"
        )
    jobs = []
    for name, settings in domains.items():
        if wanted and name not in wanted:
            continue
        jobs.append(_job(config, name, settings))
    return jobs


def _job(config: Config, name: str, settings: Domain) -> DomainJob:
    dns = settings.dns_management
    if isinstance(dns, AutomaticDns):
        server = config.servers[dns.dns_server_id]
        return DomainJob(name, settings, dns.dns_server_id, server, dns.publish_records, dns.origin)
    is_bootstrap_default = name == config.bootstrap.default_domain and name not in config.domain
    publish = BOOTSTRAP_PUBLISH_RECORDS if is_bootstrap_default else DEFAULT_PUBLISH_RECORDS
    server = config.bootstrap.dns_server
    if not isinstance(server, ManualDnsServer):
        server = ManualDnsServer.model_validate({"@type": "Manual"})
    return DomainJob(name, settings, MANUAL_SERVER_ID, server, publish)


def desired_records(config: Config, job: DomainJob, keys: DkimKeyStore) -> list[dns.rrset.RRset]:
    """The RRsets the domain needs, DKIM keys made (once) when they are to be published."""
    dkim = job.settings.dkim_management
    dkim_keys = (
        keys.keys_for(job.domain, dkim)
        if isinstance(dkim, AutomaticDkim) and DnsRecordType.DKIM in job.publish
        else []
    )
    return build_records(
        domain=job.domain,
        publish=job.publish,
        settings=job.settings,
        server_hostname=config.bootstrap.server_hostname,
        mail_server=config.mail_server,
        request_tls_certificate=config.bootstrap.request_tls_certificate,
        ttl=job.server.ttl_seconds,
        dkim_keys=dkim_keys,
    )


class Engine:
    """Plans and applies the records of many domains, at most ``concurrency`` at a time."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        *,
        concurrency: int = 8,
        run_id: str | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.keys = DkimKeyStore(Path(config.daemon.state_dir))
        self.journal = Journal(config.daemon.state_dir)
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
    ) -> list[DomainResult]:
        """Plan every job; apply the plans when ``apply``; then wait for them when ``wait``."""
        tasks = [self._guarded(job, apply=apply, force=force, wait=wait) for job in jobs]
        return list(await asyncio.gather(*tasks))

    async def check(self, jobs: Sequence[DomainJob]) -> list[DomainResult]:
        """Compare what every authoritative nameserver serves with the desired records."""
        return list(await asyncio.gather(*(self._checked(job) for job in jobs)))

    async def _guarded(
        self, job: DomainJob, *, apply: bool, force: bool, wait: bool
    ) -> DomainResult:
        result = DomainResult(domain=job.domain, server_id=job.server_id)
        started = time.monotonic()
        async with self._semaphore:
            try:
                await self._run_one(job, result, apply=apply, force=force)
                if wait and result.error is None:
                    await self._wait(job, result)
            except DnsautoError as exc:
                result.error = exc.message
            except Exception as exc:  # a bug or an unmapped library error: keep other domains
                log.exception("domain %s failed", job.domain)
                result.error = f"internal error: {type(exc).__name__}: {exc}"
        result.seconds = round(time.monotonic() - started, 3)
        return result

    async def _checked(self, job: DomainJob) -> DomainResult:
        result = DomainResult(domain=job.domain, server_id=job.server_id)
        started = time.monotonic()
        async with self._semaphore:
            try:
                desired = desired_records(self.config, job, self.keys)
                zone = to_name(job.origin or job.domain)
                result.zone = zone.to_text()
                expectations = [
                    Expectation.of(r, exact=not is_shared(r.name, r.rdtype)) for r in desired
                ]
                timeout = job.server.timeout.total_seconds()
                outcome = await self.checker.wait(
                    zone, expectations, interval=0, propagation_timeout=0, query_timeout=timeout
                )
                result.propagation = outcome
                result.propagated = outcome.propagated
            except DnsautoError as exc:
                result.error = exc.message
        result.seconds = round(time.monotonic() - started, 3)
        return result

    async def _wait(self, job: DomainJob, result: DomainResult) -> None:
        """Wait until the changes applied are served by every nameserver of the zone."""
        applied = result.changes[: result.applied]
        if not applied:
            result.propagated = result.plan is not None
            return
        provider = self._provider(job)
        if provider.capabilities.requires_person or result.zone is None:
            return
        zone = await provider.find_zone(dns.name.from_text(result.zone))
        await provider.wait_live(zone)
        server = job.server
        delay = server.propagation_delay.total_seconds() if server.propagation_delay else 0.0
        outcome = await self.checker.wait(
            zone.name,
            expectations_for(applied),
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
        self, job: DomainJob, result: DomainResult, *, apply: bool, force: bool
    ) -> None:
        provider = self._provider(job)
        desired = desired_records(self.config, job, self.keys)
        zone = await provider.find_zone(to_name(job.origin or job.domain))
        result.zone = zone.name.to_text()
        plan = await self._plan(provider, zone, desired)
        result.plan = plan
        if not apply or not plan.changes:
            return
        if not force:
            plan.raise_if_unsafe()
        try:
            await self._apply(provider, job, zone, plan.changes, result)
        except ConflictError as exc:
            log.warning("%s: %s; reading again and planning once more", job.domain, exc.message)
            plan = await self._plan(provider, zone, desired)
            result.plan = plan
            if not force:
                plan.raise_if_unsafe()
            await self._apply(provider, job, zone, plan.changes, result)
        if provider.capabilities.requires_person:
            result.instructions.extend(provider.context.instructions)

    async def _plan(
        self, provider: Provider[Any], zone: Zone, desired: list[dns.rrset.RRset]
    ) -> ZonePlan:
        names = sorted({r.name for r in desired})
        listed = await provider.list_rrsets(
            zone, names if provider.capabilities.can_list_names else None
        )
        wanted: set[dns.name.Name] = set(names)
        current = [r for r in listed if r.name in wanted]
        return plan_zone(zone.name, desired, current)

    async def _apply(
        self,
        provider: Provider[Any],
        job: DomainJob,
        zone: Zone,
        changes: Sequence[Change],
        result: DomainResult,
    ) -> None:
        size = provider.capabilities.max_changes_per_batch or len(changes)
        if provider.capabilities.requires_person:
            await provider.apply(zone, changes)
            result.applied = len(changes)
            return
        for start in range(0, len(changes), size):
            batch = changes[start : start + size]
            self.journal.before_apply(self.run_id, job.domain, str(zone), batch)
            try:
                await provider.apply(zone, batch)
            except DnsautoError as exc:
                self.journal.after_apply(self.run_id, str(zone), len(batch), exc.message)
                if start:
                    exc.args = (
                        f"{exc.message} (batch {start // size + 1}: {start} of "
                        f"{len(changes)} changes were applied before it)",
                    )
                raise
            self.journal.after_apply(self.run_id, str(zone), len(batch), None)
            result.applied += len(batch)
