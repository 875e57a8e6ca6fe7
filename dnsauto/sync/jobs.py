"""The sync's input and output: a :class:`DomainJob` per configured domain, a
:class:`DomainResult` per domain synced."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import dns.name
import dns.rrset

from dnsauto.config.domain import ZONE_FILE_RECORDS, AutomaticDns, DnsRecordType, Domain
from dnsauto.config.model import Config
from dnsauto.plugin.changes import Change
from dnsauto.plugin.errors import ConfigError, ConflictError, DnsautoError
from dnsauto.plugin.names import lookup_key, to_name
from dnsauto.plugin.provider import Zone
from dnsauto.plugin.settings import DnsServerBase, ManualDnsServer
from dnsauto.state.store import ZoneMark
from dnsauto.sync.cuts import ConfiguredZones
from dnsauto.sync.plan import ZonePlan
from dnsauto.sync.propagation import PropagationResult

__all__ = [
    "MANUAL_SERVER_ID",
    "DomainJob",
    "DomainResult",
    "JobUpdate",
    "configured_zones",
    "domain_jobs",
    "job_update",
    "job_zones",
]

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

    @property
    def zone_name(self) -> dns.name.Name:
        """The zone the domain's records go to: its ``origin``, or the domain itself."""
        return to_name(self.origin or self.domain)


@dataclass
class DomainResult:
    """What happened to one domain in a plan or sync."""

    domain: str
    server_id: str
    zone: str | None = None
    plan: ZonePlan | None = None
    applied: int = 0
    error: str | None = None
    exception: DnsautoError | None = field(default=None, repr=False, compare=False)
    """The error itself when the domain failed on one of dnsauto's errors (``error`` is its
    text): whether it is worth retrying is :attr:`needs_attention`."""
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
    found_zone: Zone | None = field(default=None, repr=False, compare=False)
    """The provider's zone the plan was made in (the wait for propagation needs it again)."""
    skipped: str | None = None
    """Why the zone was neither read nor planned: ``unchanged`` (its change marker and the
    desired records are those of the last successful sync; see :mod:`dnsauto.sync.resync`)."""
    zone_mark: ZoneMark | None = field(default=None, repr=False, compare=False)
    """The mark to keep for the next sync, should this one end without an error."""

    @property
    def needs_attention(self) -> bool:
        """The domain failed in a way retrying cannot fix (credentials refused, zone not found,
        invalid data, a configuration problem): a person must change the configuration or the
        provider. Transient failures (timeouts, 429, 5xx, SERVFAIL) and bugs are retried."""
        exc = self.exception
        if self.error is None or exc is None or isinstance(exc, ConflictError):
            return False  # a bug, or a conflict: the next run reads and plans again
        return not getattr(exc, "transient", False)

    @property
    def changes(self) -> list[Change]:
        return self.plan.changes if self.plan is not None else []

    @property
    def warnings(self) -> list[str]:
        return self.plan.warnings if self.plan is not None else []


def domain_jobs(config: Config, only: Sequence[str] = ()) -> list[DomainJob]:
    """The domains of the configuration (or the chosen ones), each with its DnsServer: the
    enabled ones and their aliases (:meth:`~dnsauto.config.model.Config.published_domains`)."""
    domains = config.published_domains()
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


_ZONES_KEPT = 4
_zones_lock = threading.Lock()
_zones_of: dict[int, tuple[Config, ConfiguredZones]] = {}


def configured_zones(config: Config) -> ConfiguredZones:
    """:func:`job_zones` of every job of ``config``, made once per configuration (it is
    immutable): the daemon makes an engine per run, and walking every domain at each of
    thousands of one-domain runs would cost a reconcile quadratic time."""
    # Made under the lock: the syncs of a run ask for them at once from their worker
    # threads, and each making them (86 ms at 16,000 domains) would only repeat the first.
    with _zones_lock:
        kept = _zones_of.get(id(config))
        if kept is not None and kept[0] is config:
            return kept[1]
        zones = job_zones(domain_jobs(config))
        while len(_zones_of) >= _ZONES_KEPT:
            del _zones_of[next(iter(_zones_of))]
        _zones_of[id(config)] = (config, zones)
        return zones


def job_zones(jobs: Sequence[DomainJob]) -> ConfiguredZones:
    """Each zone the jobs publish, with the domain whose sync publishes it: the one named as
    the zone when there is one, else the first whose ``origin`` it is."""
    zones: dict[dns.name.Name, str] = {}
    for job in jobs:
        zone = job.zone_name
        if zone not in zones or job.origin is None:
            zones[zone] = job.domain
    return ConfiguredZones(zones)


@dataclass(frozen=True)
class JobUpdate:
    """The jobs of ``config`` for the names some changed Domains touch, made against
    ``before``: where the change was made (an API /set's worker thread), so that whoever runs
    the domains need not walk every domain of ``config`` for it."""

    before: Config
    config: Config
    names: frozenset[str]
    """Every name looked at: the changed domains, their aliases in ``config``, and every
    alias ``before`` published (a name that was only an alias may be gone now)."""
    jobs: dict[str, DomainJob]
    """The jobs of those names that ``config`` publishes."""


def job_update(before: Config, config: Config, domains: Collection[str]) -> JobUpdate:
    """The :class:`JobUpdate` of a change from ``before`` to ``config`` that changed only the
    Domain objects ``domains`` (created, updated or destroyed)."""
    named = set(domains)
    for name in domains:
        if name in config.domains:
            named.update(config.domains[name].aliases)
    named.update(_aliases(before))
    published = config.published_domains()
    jobs = {name: _job(config, name, published[name]) for name in named if name in published}
    return JobUpdate(before, config, frozenset(named), jobs)


def _aliases(config: Config) -> set[str]:
    """The aliases of ``config``'s enabled domains (what it publishes beside its domains)."""
    return {
        alias for domain in config.domains.values() if domain.is_enabled for alias in domain.aliases
    }


def _job(config: Config, name: str, settings: Domain) -> DomainJob:
    dns = settings.dns_management
    if isinstance(dns, AutomaticDns):
        server = config.servers[dns.dns_server_id]
        return DomainJob(name, settings, dns.dns_server_id, server, dns.publish_records, dns.origin)
    server = config.bootstrap.dns_server
    if not isinstance(server, ManualDnsServer):
        server = _MANUAL_SERVER
    return DomainJob(name, settings, MANUAL_SERVER_ID, server, ZONE_FILE_RECORDS)
