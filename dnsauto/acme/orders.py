"""The order flow: which certificates dnsauto obtains, and one ACME DNS-01 order for each.

Which certificates (:func:`certificate_requests`): with ``[acme] obtainCertificates``, every
enabled Domain whose ``certificateManagement`` is ``Automatic`` with a ``Dns01`` AcmeProvider
and whose DNS is ``Automatic``. Its names are Stalwart's (``build_domains``): the
``subjectAlternativeNames`` (a bare label gets ``.{domain}``), or, when there are none,
``*.{domain}`` and ``{domain}``. The Bootstrap's certificate is for ``serverHostname``
("obtain a TLS certificate for the server hostname").

One order (:meth:`Orders.obtain`), unlike Stalwart's:

1. the account key of the CA directory is made once and kept in the state store;
2. the key is ``next-privkey.pem`` (made ahead, see :mod:`dnsauto.acme.store`), or the current
   key with ``reuseKey``; the CSR names every name;
3. every pending authorization's ``_acme-challenge.<name>`` TXT value is published in one plan
   per zone through the domain's DnsServer: the sync's planner (the name is shared, so foreign
   TXT values there stay), its journaled apply stage (a conflict is read and planned again
   once), then its propagation checker, honouring ``propagationDelay``, ``pollingInterval``
   and ``propagationTimeout``; a challenge is answered only once **every** authoritative
   nameserver serves its value, otherwise the order stops here (transient) and is retried;
4. the authorizations are polled (the CA's ``Retry-After``, else ``pollingInterval``), the order
   finalized and the chain checked (names, key);
5. the challenge values are removed (only ours; foreign values stay), whatever happened;
6. the first certificate is put in place at once; a renewal is staged in ``next-fullchain.pem``
   and put in place when :func:`dnsauto.acme.rollover.may_deploy` allows, then ``[acme]
   deployHook`` runs and a new ``next-privkey.pem`` is made.

Renewal is due at the AcmeProvider's ``renewBefore`` share of the lifetime (two thirds by
default), or at the moment of the CA's RFC 9773 window (ARI) when the directory offers
``renewalInfo``, whichever comes first. A failed order is retried after ``retryInitialDelay``,
doubling up to ``retryMaxDelay``; a permanent failure (the CA refused the account or the names)
waits for a person (``needsAttention``).
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype
import dns.rrset
from acme import challenges, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dnsauto.acme import rollover
from dnsauto.acme.challenges import Planner, apply_planned, beside, without_values
from dnsauto.acme.client import AcmeClient, AcmeError, new_account_key
from dnsauto.acme.store import CertificateFiles, PrivateKey, csr_for
from dnsauto.config.acme import AcmeChallengeType, AcmeProvider, AcmeRenewBefore
from dnsauto.config.domain import AutomaticCertificate, AutomaticDns
from dnsauto.config.model import BOOTSTRAP_ACME_ID, Config
from dnsauto.plugin.changes import Change, comparable_value
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.provider import Provider, Zone
from dnsauto.plugin.txt import txt_rdata
from dnsauto.state.store import CertificateStatus, StateStore, utc_now
from dnsauto.sync.jobs import DomainJob, DomainResult, domain_jobs
from dnsauto.sync.propagation import Expectation, PropagationChecker

__all__ = [
    "CertificateRequest",
    "OrderOutcome",
    "Orders",
    "certificate_files",
    "certificate_names",
    "certificate_requests",
    "choose_renewal",
    "renewal_due_at",
]

log = logging.getLogger(__name__)

CHALLENGE_LABEL = "_acme-challenge"
CHALLENGE_TTL = 60
"""TTL of a challenge TXT (at most the DnsServer's ``ttl``): short, since it lives minutes."""


@dataclass(frozen=True)
class CertificateRequest:
    """One certificate dnsauto obtains: its names, the Domain that publishes its challenges."""

    name: str
    domain: str
    provider_id: str
    provider: AcmeProvider
    names: tuple[str, ...]
    job: DomainJob


def certificate_names(config: Config, domain: str, certificate: AutomaticCertificate) -> list[str]:
    """The names of a Domain's certificate, as Stalwart's ``build_domains`` (Dns01)."""
    if (
        certificate.acme_provider_id == BOOTSTRAP_ACME_ID
        and domain == config.bootstrap.default_domain
        and domain not in config.domain
        and not certificate.subject_alternative_names
    ):
        return [config.bootstrap.server_hostname]
    if certificate.subject_alternative_names:
        return [
            h.lower().rstrip(".") if "." in h else f"{h.lower()}.{domain}"
            for h in certificate.subject_alternative_names
        ]
    return [f"*.{domain}", domain]


def certificate_requests(config: Config, only: Sequence[str] = ()) -> list[CertificateRequest]:
    """The certificates dnsauto obtains (none unless ``[acme] obtainCertificates``)."""
    if not config.acme.obtain_certificates:
        return []
    providers = config.acme_providers
    out: list[CertificateRequest] = []
    for job in domain_jobs(config, only):
        certificate = job.settings.certificate_management
        if job.domain not in config.domains or not isinstance(certificate, AutomaticCertificate):
            continue  # an alias shares its domain's certificate management: no order of its own
        provider_id = certificate.acme_provider_id or BOOTSTRAP_ACME_ID
        provider = providers.get(provider_id)
        if provider is None or provider.challenge_type != AcmeChallengeType.DNS01:
            continue
        if not isinstance(job.settings.dns_management, AutomaticDns):
            continue
        names = tuple(dict.fromkeys(certificate_names(config, job.domain, certificate)))
        name = names[0].removeprefix("*.")
        out.append(CertificateRequest(name, job.domain, provider_id, provider, names, job))
    return out


def certificate_files(config: Config, request: CertificateRequest) -> CertificateFiles:
    """The files of ``request``'s certificate under ``<stateDir>/certs/<name>/``."""
    return CertificateFiles(Path(config.daemon.state_dir), request.name, config.acme.group)


def renewal_due_at(
    not_before: datetime.datetime, not_after: datetime.datetime, fraction: tuple[int, int]
) -> datetime.datetime:
    """``not_before`` plus ``fraction`` of the lifetime (Stalwart's ``acme_renewal_due_at``)."""
    numerator, denominator = fraction
    return not_before + (not_after - not_before) * numerator / denominator


def choose_renewal(
    by_lifetime: datetime.datetime, suggested: datetime.datetime | None
) -> tuple[datetime.datetime, str]:
    """The renewal moment: the CA's RFC 9773 suggestion when it comes first, else the
    lifetime share; with where it came from (``ari`` or ``lifetime``)."""
    if suggested is not None and suggested < by_lifetime:
        return suggested, "ari"
    return by_lifetime, "lifetime"


@dataclass
class OrderOutcome:
    """What :meth:`Orders.obtain` did for one certificate."""

    request: CertificateRequest
    action: str
    """``issued`` (first certificate), ``renewed`` (put in place), ``staged`` (waiting for
    the rollover), ``deployed`` (a staged one put in place), ``current`` (not due), ``failed``."""
    status: CertificateStatus
    error: DnsautoError | None = None
    journal: list[DomainResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.action == "failed"


Clock = Callable[[], datetime.datetime]


class Orders:
    """Obtains and renews the certificates of one configuration.

    ``provider_for(job)`` gives the DnsServer's provider (the sync engine's, so one instance per
    server); ``checker`` is the sync's propagation checker; ``store`` the state store, whose
    journal gets the challenge records' changes under ``run_id``.
    """

    def __init__(
        self,
        config: Config,
        store: StateStore,
        provider_for: Callable[[DomainJob], Provider[Any]],
        checker: PropagationChecker,
        *,
        run_id: str | None = None,
        clock: Clock = utc_now,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.store = store
        self.provider_for = provider_for
        self.checker = checker
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.clock = clock
        self.sleep = sleep
        self.state_dir = Path(config.daemon.state_dir)

    def files(self, request: CertificateRequest) -> CertificateFiles:
        return certificate_files(self.config, request)

    async def run(
        self, requests: Sequence[CertificateRequest], *, force: bool = False
    ) -> list[OrderOutcome]:
        """Every certificate in turn (orders are few; one at a time keeps the CA's limits)."""
        return [await self.obtain(request, force=force) for request in requests]

    def _status(self, request: CertificateRequest) -> CertificateStatus:
        status = self.store.certificate_status(request.name)
        if status is None:
            status = CertificateStatus(
                name=request.name,
                domain=request.domain,
                provider_id=request.provider_id,
                names=list(request.names),
            )
        status.domain, status.provider_id = request.domain, request.provider_id
        return status

    def due(self, request: CertificateRequest, status: CertificateStatus) -> str | None:
        """Why an order is due now (None: not due)."""
        now = self.clock()
        if status.next_attempt is not None and now < status.next_attempt:
            return None  # backing off after a failure
        chain = self.files(request).chain()
        if chain is None:
            return "no certificate yet"
        if sorted(status.names) != sorted(request.names):
            return "the names changed"
        if status.renew_at is None or now >= status.renew_at:
            return "renewal is due"
        if chain[0].not_valid_after_utc <= now:
            return "the certificate expired"
        return None

    async def obtain(self, request: CertificateRequest, *, force: bool = False) -> OrderOutcome:
        """Order ``request``'s certificate when due (or ``force``); put a staged one in place
        when the rollover allows. Errors end up in the outcome and the store, never raised."""
        status = self._status(request)
        outcome = OrderOutcome(request, "current", status)
        files = self.files(request)
        try:
            if files.staged_chain() is not None and not force:
                await self._deploy_if_allowed(request, files, outcome)
                return outcome
            reason = "forced" if force else self.due(request, status)
            if reason is None:
                return outcome
            log.info("certificate %s: ordering (%s)", request.name, reason)
            await self._order(request, files, outcome)
            status.failures, status.last_error, status.needs_attention = 0, None, False
            status.next_attempt = None
        except DnsautoError as exc:
            self._failed(outcome, exc)
        except Exception as exc:  # a bug or an unmapped library error: keep the others
            log.exception("certificate %s failed", request.name)
            self._failed(outcome, DnsautoError(f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            await asyncio.to_thread(self.store.save_certificate_status, status)
        return outcome

    def _failed(self, outcome: OrderOutcome, exc: DnsautoError) -> None:
        status = outcome.status
        outcome.action, outcome.error = "failed", exc
        status.failures += 1
        status.last_error = exc.message
        status.needs_attention = not getattr(exc, "transient", False)
        daemon = self.config.daemon
        delay = min(
            daemon.retry_initial_delay * (2 ** (status.failures - 1)), daemon.retry_max_delay
        )
        status.next_attempt = None if status.needs_attention else self.clock() + delay
        log.warning("certificate %s: %s", outcome.request.name, exc.message)

    # --- one order ------------------------------------------------------------------------

    async def _account(self, request: CertificateRequest) -> AcmeClient:
        provider = request.provider
        row = await asyncio.to_thread(self.store.acme_account, provider.directory)
        if row is None:
            key = await asyncio.to_thread(new_account_key)
            row = await asyncio.to_thread(self.store.add_acme_account, provider.directory, key)
        settings = self.config.acme
        client = AcmeClient(
            provider.directory,
            row.key_pem,
            ca_bundle=settings.ca_bundle,
            timeout=settings.request_timeout,
            max_retries=provider.max_retries,
        )
        eab = None
        if provider.eab_key_id and provider.eab_hmac_key is not None:
            secret = provider.eab_hmac_key.resolve()
            if secret:
                eab = (provider.eab_key_id, secret)
        uri = await client.open(provider.contacts(self.config.bootstrap.default_domain), eab)
        if uri != row.account_uri:
            await asyncio.to_thread(self.store.set_acme_account_uri, provider.directory, uri)
        return client

    async def _order(
        self, request: CertificateRequest, files: CertificateFiles, outcome: OrderOutcome
    ) -> None:
        started = time.monotonic()
        status = outcome.status
        status.last_attempt = self.clock()
        client = await self._account(request)
        try:
            first = files.chain() is None
            key: PrivateKey
            if request.provider.reuse_key and (current := files.key()) is not None:
                key = current
            else:
                key = await asyncio.to_thread(files.ensure_next_key, self.config.acme.key_type)
            csr = csr_for(key, list(request.names))
            order = await client.new_order(csr)
            await self._authorize(request, client, order, outcome)
            timeout = 300.0 + request.job.server.propagation_timeout.total_seconds()
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
            fullchain = await client.finalize(order, deadline, request.provider.preferred_chain)
            chain = _check_chain(fullchain, request.names, key)
            status.issuer = chain[0].issuer.rfc4514_string()
            status.names = list(request.names)
            status.issued_at = self.clock()
            status.renew_at, status.renew_source = await self._renewal(
                request, client, chain[0], fullchain
            )
            if first or request.provider.reuse_key:
                await asyncio.to_thread(files.install, fullchain, key)
                outcome.action = "issued" if first else "renewed"
                await self._deployed(request, files, status)
            else:
                await asyncio.to_thread(files.stage, fullchain)
                status.staged = True
                outcome.action = "staged"
                await self._deploy_if_allowed(request, files, outcome)
        finally:
            status.requests = client.requests
            status.seconds = round(time.monotonic() - started, 3)

    async def _renewal(
        self,
        request: CertificateRequest,
        client: AcmeClient,
        leaf: x509.Certificate,
        fullchain: str,
    ) -> tuple[datetime.datetime, str]:
        by_lifetime = renewal_due_at(
            leaf.not_valid_before_utc,
            leaf.not_valid_after_utc,
            AcmeRenewBefore(request.provider.renew_before).fraction,
        )
        try:
            suggested = await client.renewal_time(fullchain.encode())
        except AcmeError as exc:
            log.info("certificate %s: no renewal information: %s", request.name, exc.message)
            suggested = None
        return choose_renewal(by_lifetime, suggested)

    async def _deploy_if_allowed(
        self, request: CertificateRequest, files: CertificateFiles, outcome: OrderOutcome
    ) -> None:
        ttl = float(request.job.server.ttl_seconds)  # what the TLSA records are published with
        allowed = await rollover.may_deploy(
            files.directory,
            ttl=ttl,
            now=self.clock(),
            served=rollover.tlsa_served(self.config, self.checker),
        )
        if not allowed:
            outcome.status.staged = True
            if outcome.action == "current":
                outcome.action = "staged"
            return
        await asyncio.to_thread(files.deploy_staged)
        outcome.status.staged = False
        outcome.action = "renewed" if outcome.action == "staged" else "deployed"
        chain = files.chain()
        if chain is not None:
            outcome.status.issuer = chain[0].issuer.rfc4514_string()
            outcome.status.not_before = chain[0].not_valid_before_utc
            outcome.status.not_after = chain[0].not_valid_after_utc
        await self._deployed(request, files, outcome.status)

    async def _deployed(
        self, request: CertificateRequest, files: CertificateFiles, status: CertificateStatus
    ) -> None:
        """After a certificate was put in place: the next key ahead, then the deploy hook."""
        chain = files.chain()
        if chain is not None:
            status.not_before = chain[0].not_valid_before_utc
            status.not_after = chain[0].not_valid_after_utc
        if not request.provider.reuse_key:
            await asyncio.to_thread(files.ensure_next_key, self.config.acme.key_type)
        hook = self.config.acme.deploy_hook
        if hook:
            await asyncio.to_thread(_run_hook, hook, request.name, files.directory)

    async def _authorize(
        self,
        request: CertificateRequest,
        client: AcmeClient,
        order: messages.OrderResource,
        outcome: OrderOutcome,
    ) -> None:
        pending: list[tuple[messages.AuthorizationResource, messages.ChallengeBody, str]] = []
        for authzr in order.authorizations:
            if authzr.body.status == messages.STATUS_VALID:
                continue
            if authzr.body.status != messages.STATUS_PENDING:
                raise AcmeError(
                    f"authorization for {authzr.body.identifier.value} is "
                    f"{authzr.body.status.name}",
                    transient=True,
                )
            challenge = next(
                (c for c in authzr.body.challenges if isinstance(c.chall, challenges.DNS01)),
                None,
            )
            if challenge is None:
                raise AcmeError(
                    f"the CA offers no dns-01 challenge for {authzr.body.identifier.value}",
                    transient=False,
                )
            pending.append((authzr, challenge, client.dns01_value(challenge)))
        if not pending:
            return
        values: dict[dns.name.Name, list[str]] = {}
        for authzr, _, value in pending:
            name = dns.name.from_text(
                f"{CHALLENGE_LABEL}.{authzr.body.identifier.value.removeprefix('*.')}"
            )
            values.setdefault(name, []).append(value)
        publisher = _ChallengeRecords(self, request, outcome)
        try:
            await publisher.publish(values)
            for _, challenge, _ in pending:
                await client.answer(challenge)
            for authzr, _, _ in pending:
                await self._poll(request, client, authzr)
        finally:
            try:
                await publisher.remove(values)
            except DnsautoError as exc:
                log.warning("certificate %s: challenge cleanup: %s", request.name, exc.message)

    async def _poll(
        self,
        request: CertificateRequest,
        client: AcmeClient,
        authzr: messages.AuthorizationResource,
    ) -> None:
        interval = request.job.server.polling_interval.total_seconds()
        limit = time.monotonic() + 300.0
        for _ in range(max(request.provider.max_retries, 1) * 10):
            authzr, retry_after = await client.poll(authzr)
            state = authzr.body.status
            if state == messages.STATUS_VALID:
                return
            if state != messages.STATUS_PENDING and state != messages.STATUS_PROCESSING:
                problems = [str(c.error) for c in authzr.body.challenges if c.error is not None]
                raise AcmeError(
                    f"authorization for {authzr.body.identifier.value} is {state.name}: "
                    + ("; ".join(problems) or "no reason given"),
                    transient=True,
                )
            if time.monotonic() > limit:
                break
            await self.sleep(min(retry_after if retry_after is not None else interval, 60.0))
        raise AcmeError(
            f"authorization for {authzr.body.identifier.value} still pending", transient=True
        )


class _ChallengeRecords:
    """The challenge TXT values of one order, through the sync's plan, apply and propagation
    stages (journaled as the domain's changes)."""

    def __init__(self, orders: Orders, request: CertificateRequest, outcome: OrderOutcome):
        self.orders = orders
        self.request = request
        self.outcome = outcome
        self.job = request.job
        self.provider = orders.provider_for(request.job)
        self._zones: dict[dns.name.Name, Zone] = {}

    async def _zone_of(self, name: dns.name.Name) -> Zone:
        if name not in self._zones:
            self._zones[name] = await self.provider.find_zone(name)
        return self._zones[name]

    async def _by_zone(
        self, values: dict[dns.name.Name, list[str]]
    ) -> dict[dns.name.Name, tuple[Zone, dict[dns.name.Name, list[str]]]]:
        grouped: dict[dns.name.Name, tuple[Zone, dict[dns.name.Name, list[str]]]] = {}
        for name, texts in values.items():
            zone = await self._zone_of(name)
            grouped.setdefault(zone.name, (zone, {}))[1][name] = texts
        return grouped

    def _ttl(self) -> int:
        return min(CHALLENGE_TTL, self.job.server.ttl_seconds)

    async def _apply(self, zone: Zone, plan: Planner, names: list[dns.name.Name]) -> list[Change]:
        def new_result() -> DomainResult:
            result = DomainResult(
                domain=self.job.domain, server_id=self.job.server_id, zone=zone.name.to_text()
            )
            self.outcome.journal.append(result)
            return result

        orders = self.orders
        return await apply_planned(
            orders.store, orders.run_id, self.provider, self.job, zone, names, plan, new_result
        )

    async def publish(self, values: dict[dns.name.Name, list[str]]) -> None:
        """Publish every value (one plan per zone), then wait until every authoritative
        nameserver serves them; raise (transient) when one does not in time."""
        server = self.job.server
        for zone, by_name in (await self._by_zone(values)).values():
            desired = [
                dns.rrset.from_rdata_list(name, self._ttl(), [txt_rdata(t) for t in texts])
                for name, texts in by_name.items()
            ]
            applied = await self._apply(zone, beside(zone, desired), list(by_name))
            if applied:
                await self.provider.wait_live(zone)
            expectations = [Expectation.of(r, exact=False) for r in desired]
            delay = server.propagation_delay.total_seconds() if server.propagation_delay else 0
            outcome = await self.orders.checker.wait(
                zone.name,
                expectations,
                delay=delay if applied else 0.0,
                interval=server.polling_interval.total_seconds(),
                propagation_timeout=server.propagation_timeout.total_seconds(),
                query_timeout=server.timeout.total_seconds(),
            )
            if not outcome.propagated:
                lagging = ", ".join(outcome.lagging_nameservers)
                raise AcmeError(
                    f"challenge records not live on every nameserver after "
                    f"{server.propagation_timeout.total_seconds():g}s (lagging: {lagging}); "
                    "not answering the challenge",
                    transient=True,
                )

    async def remove(self, values: dict[dns.name.Name, list[str]]) -> None:
        """Remove our values only: the RRset keeps any foreign value (or goes, when none)."""
        for zone, by_name in (await self._by_zone(values)).values():
            ours = {
                name: {comparable_value(txt_rdata(t)) for t in texts}
                for name, texts in by_name.items()
            }
            await self._apply(zone, functools.partial(without_values, ours=ours), list(by_name))


def _check_chain(fullchain: str, names: Sequence[str], key: PrivateKey) -> list[x509.Certificate]:
    """The issued chain, checked: it names every name and is for our key."""
    try:
        chain = x509.load_pem_x509_certificates(fullchain.encode())
    except ValueError as exc:
        raise AcmeError(f"the CA sent no valid PEM chain: {exc}", transient=True) from None
    leaf = chain[0]
    try:
        sans = set(
            leaf.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            ).value.get_values_for_type(x509.DNSName)
        )
    except x509.ExtensionNotFound:
        sans = set()
    missing = [n for n in names if n not in sans]
    if missing:
        raise AcmeError(f"the certificate lacks {', '.join(missing)}", transient=True)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if leaf.public_key().public_bytes(encoding, public) != key.public_key().public_bytes(
        encoding, public
    ):
        raise AcmeError("the certificate is not for the key of the CSR", transient=True)
    return chain


def _run_hook(command: str, name: str, directory: Path) -> None:
    """Run ``[acme] deployHook`` (no shell); a failure is logged, never raised: the
    certificate is in place, and the next deploy runs the hook again."""
    env = {**os.environ, "DNSAUTO_CERT_NAME": name, "DNSAUTO_CERT_DIR": str(directory)}
    try:
        completed = subprocess.run(
            shlex.split(command), env=env, capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("deployHook for %s failed: %s", name, exc)
        return
    if completed.returncode != 0:
        log.error(
            "deployHook for %s exited with %d: %s",
            name,
            completed.returncode,
            completed.stderr.strip()[-500:],
        )
