"""The desired stage: the RRsets a domain needs, and the retired DKIM records it must lose."""

from __future__ import annotations

from collections.abc import Sequence

import dns.rdatatype
import dns.rrset

from dnsauto.config.domain import AutomaticDkim, DnsRecordType
from dnsauto.config.model import Config
from dnsauto.records.dkim import DkimKey, DkimKeyStore
from dnsauto.records.mail import build_records
from dnsauto.records.tlsa import load_managed_certificates
from dnsauto.sync.cuts import ConfiguredZones, Elsewhere, split_by_zone
from dnsauto.sync.jobs import DomainJob
from dnsauto.sync.plan import Key

__all__ = ["by_zone", "desired_records", "dkim_deletions", "managed_dkim"]


def managed_dkim(job: DomainJob) -> AutomaticDkim | None:
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
    ``dkim_keys`` are those keys when the caller has read them already. TLSA records name the
    certificates dnsauto obtains by ACME (``<stateDir>/certs/``) when the domain's certificate
    is ``Automatic``: the current key and the next one (:mod:`dnsauto.records.tlsa`).
    """
    dkim = managed_dkim(job)
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
        managed_certificates=(
            load_managed_certificates(config.daemon.state_dir)
            if DnsRecordType.TLSA in job.publish
            else ()
        ),
    )


def dkim_deletions(job: DomainJob, keys: DkimKeyStore) -> list[Key]:
    """The (name, TXT) RRsets of the domain's retired DKIM keys, which a sync deletes."""
    if managed_dkim(job) is None:
        return []
    return [(name, dns.rdatatype.TXT) for name in keys.retired_names(job.domain)]


def by_zone(
    job: DomainJob, rrsets: Sequence[dns.rrset.RRset], zones: ConfiguredZones
) -> tuple[list[dns.rrset.RRset], list[Elsewhere]]:
    """``rrsets`` of the domain's own zone, and those in the zones of other configured domains
    (``zones``: :func:`~dnsauto.sync.jobs.job_zones`), which their syncs publish."""
    own = job.zone_name
    cuts = zones.between(own, {r.name for r in rrsets}, own=own)
    return split_by_zone(own, rrsets, cuts)
