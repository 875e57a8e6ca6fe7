"""The desired stage: the RRsets a domain needs, and the retired DKIM records it must lose."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata

import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives import hashes
from pydantic import BaseModel

import dnsauto
from dnsauto.config.domain import AutomaticDkim, DnsRecordType, Domain
from dnsauto.config.mailserver import MailServer
from dnsauto.config.model import Config
from dnsauto.records.dkim import DkimKey, DkimKeyStore
from dnsauto.records.mail import build_records
from dnsauto.records.tlsa import ManagedCertificate, load_managed_certificates
from dnsauto.sync.by_identity import ByIdentity
from dnsauto.sync.cuts import ConfiguredZones, Elsewhere, split_by_zone
from dnsauto.sync.jobs import DomainJob
from dnsauto.sync.plan import Key

__all__ = [
    "DesiredInputs",
    "by_zone",
    "desired_inputs",
    "desired_records",
    "dkim_deletions",
    "managed_dkim",
]


def managed_dkim(job: DomainJob) -> AutomaticDkim | None:
    """The domain's DKIM management when dnsauto makes and publishes its keys."""
    dkim = job.settings.dkim_management
    if isinstance(dkim, AutomaticDkim) and DnsRecordType.DKIM in job.publish:
        return dkim
    return None


@dataclass(frozen=True)
class DesiredInputs:
    """Everything a domain's desired RRsets are built from: :func:`build_records`' arguments.

    Building is a pure function of these, so equal :meth:`fingerprint` means equal records; a
    re-sync compares fingerprints (:mod:`dnsauto.sync.resync`) and builds only when it must
    plan (building costs about a hundred times more than the fingerprint).
    """

    domain: str
    publish: tuple[DnsRecordType, ...]
    settings: Domain
    server_hostname: str
    mail_server: MailServer
    ttl: int
    dkim_keys: tuple[DkimKey, ...]
    managed_certificates: tuple[ManagedCertificate, ...]

    def build(self) -> list[dns.rrset.RRset]:
        return build_records(
            domain=self.domain,
            publish=self.publish,
            settings=self.settings,
            server_hostname=self.server_hostname,
            mail_server=self.mail_server,
            ttl=self.ttl,
            dkim_keys=self.dkim_keys,
            managed_certificates=self.managed_certificates,
        )

    def fingerprint(self) -> bytes:
        """Every input as bytes, with the code that builds from them (dnsauto's release and
        the public suffix list's, which CAA's names come from). A DKIM key is in it by its
        :attr:`~dnsauto.records.dkim.DkimKey.identity`: its public value is derived only
        when its record is built."""
        parts = [
            _code_identity(),
            self.domain,
            ",".join(sorted(self.publish)),
            _settings_json(self.settings),
            self.server_hostname,
            _mail_server_json(self.mail_server),
            str(self.ttl),
        ]
        parts += [f"{k.selector} {k.algorithm} {k.stage} {k.identity}" for k in self.dkim_keys]
        parts += [_certificate_identity(c) for c in self.managed_certificates]
        return "\n".join(parts).encode()


def _json(model: BaseModel) -> str:
    return model.model_dump_json()


_mail_server_json: ByIdentity[MailServer, str] = ByIdentity(_json, kept=8)
_settings_json: ByIdentity[Domain, str] = ByIdentity(_json, kept=8)
"""The JSON of the mail server and of domains' settings, made once for each model a run's
domains share (:mod:`dnsauto.sync.by_identity`)."""


@cache
def _code_identity() -> str:
    try:
        suffix_list = metadata.version("publicsuffixlist")
    except metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        suffix_list = "?"
    return f"dnsauto {dnsauto.__version__}; publicsuffixlist {suffix_list}"


def _certificate_identity(certificate: ManagedCertificate) -> str:
    chain = " ".join(c.fingerprint(hashes.SHA256()).hex() for c in certificate.chain)
    following = hashlib.sha256(certificate.next_spki).hexdigest() if certificate.next_spki else ""
    return f"{certificate.name} {chain} {following}"


def desired_inputs(
    config: Config,
    job: DomainJob,
    keys: DkimKeyStore,
    *,
    dkim_keys: Sequence[DkimKey] | None = None,
) -> DesiredInputs:
    """What the domain's RRsets are built from, DKIM keys made (once) when they are to be
    published; ``dkim_keys`` are the domain's published keys when the caller has read them."""
    dkim = managed_dkim(job)
    if dkim_keys is None:
        dkim_keys = keys.published(job.domain, dkim) if dkim is not None else []
    return DesiredInputs(
        domain=job.domain,
        publish=job.publish,
        settings=job.settings,
        server_hostname=config.bootstrap.server_hostname,
        mail_server=config.mail_server,
        ttl=job.server.ttl_seconds,
        dkim_keys=tuple(dkim_keys),
        managed_certificates=(
            tuple(load_managed_certificates(config.daemon.state_dir))
            if DnsRecordType.TLSA in job.publish
            else ()
        ),
    )


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
    return desired_inputs(config, job, keys, dkim_keys=dkim_keys).build()


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
