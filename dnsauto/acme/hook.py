"""``dnsauto acme-hook``: an ACME client's DNS-01 challenge published through dnsauto.

certbot (``--manual-auth-hook`` / ``--manual-cleanup-hook``) and lego (the ``exec`` provider)
hand the hook a name and a TXT value; the hook publishes ``_acme-challenge.<name>`` through
the DnsServer of the configured domain that holds the name, and returns only once every
authoritative nameserver of the zone serves it (:mod:`dnsauto.sync.propagation`, with that
DnsServer's ``propagationDelay``, ``pollingInterval`` and ``propagationTimeout``).

The record goes through the sync's stages (:mod:`dnsauto.acme.challenges`, shared with the
service's orders): the provider's RRset is read, the change planned (a challenge TXT name is
shared, so foreign values there stay), applied in a journaled batch (a conflict is read and
planned again once) and waited for. Cleanup removes only the value it is given.

Concurrent hook calls for one name (an order for ``example.com`` and ``*.example.com`` has
two values at ``_acme-challenge.example.com``) each read, merge and write the RRset; an
exclusive lock per challenge name (``flock`` on a file under ``<stateDir>/locks/``) makes that
read-modify-write one step, so neither clobbers the other. The lock is held from the read to
the provider's answer only, not while waiting for propagation: each call then waits for its
own value to be served (beside any others), or, on cleanup, to be gone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import dns.name
import dns.rdatatype
import dns.rrset

from dnsauto.acme.challenges import Planner, apply_planned, beside, without_values
from dnsauto.config.model import Config
from dnsauto.plugin.changes import Change, comparable_value
from dnsauto.plugin.context import ProviderContext
from dnsauto.plugin.errors import ConfigError, DnsautoError
from dnsauto.plugin.names import to_name
from dnsauto.plugin.provider import Zone
from dnsauto.plugin.registry import Registry
from dnsauto.plugin.txt import txt_rdata
from dnsauto.state.store import StateStore
from dnsauto.sync.jobs import DomainJob, DomainResult, domain_jobs
from dnsauto.sync.propagation import (
    Expectation,
    NameserverFinder,
    PropagationChecker,
    PropagationResult,
)

__all__ = [
    "CHALLENGE_LABEL",
    "ChallengeResult",
    "challenge_name",
    "challenge_value",
    "cleanup",
    "job_for",
    "present",
]

log = logging.getLogger(__name__)

CHALLENGE_LABEL = "_acme-challenge"
TXT = dns.rdatatype.TXT
Action = Literal["present", "cleanup"]


def challenge_name(identifier: str) -> dns.name.Name:
    """``_acme-challenge.<identifier>.``: ``*.`` dropped; a name given with the label kept.

    :raises ValueError: not a valid host name.
    """
    text = identifier.strip().rstrip(".")
    text = text.removeprefix("*.")
    name = to_name(text)
    if name.labels and name.labels[0].lower() == CHALLENGE_LABEL.encode():
        return name
    return dns.name.Name((CHALLENGE_LABEL.encode(), *name.labels))


def challenge_value(key_authorization: str) -> str:
    """The DNS-01 TXT value of a key authorization (RFC 8555 §8.4): base64url(SHA-256), no
    padding. lego's ``EXEC_MODE=RAW`` passes the key authorization itself."""
    digest = hashlib.sha256(key_authorization.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def job_for(config: Config, name: dns.name.Name) -> DomainJob:
    """The configured domain whose DnsServer publishes ``name``: the longest domain (or
    ``origin``) that ``name`` is at or under.

    :raises ConfigError: no configured domain holds the name.
    """
    best: tuple[int, DomainJob] | None = None
    for job in domain_jobs(config):
        for apex in {to_name(job.domain), to_name(job.origin or job.domain)}:
            if name.is_subdomain(apex) and (best is None or len(apex) > best[0]):
                best = (len(apex), job)
    shown = name.to_text()
    if best is None:
        configured = ", ".join(sorted(config.published_domains())) or "none"
        raise ConfigError(
            f"{shown}: no configured domain holds this name (configured: {configured}); "
            "add the domain with dnsManagement Automatic"
        )
    return best[1]


def _by_hand(name: dns.name.Name, job: DomainJob) -> ConfigError:
    return ConfigError(
        f"{name.to_text()}: domain {job.domain} is published by hand ({job.server.type}); "
        "the ACME hook needs a DnsServer dnsauto can write"
    )


@dataclass
class ChallengeResult:
    """What one hook call did."""

    action: Action
    name: str
    value: str
    domain: str
    zone: str | None = None
    changes: list[Change] = field(default_factory=list)
    propagation: PropagationResult | None = None
    error: str | None = None

    @property
    def propagated(self) -> bool:
        return self.propagation is not None and self.propagation.propagated


async def present(
    config: Config, registry: Registry, store: StateStore, identifier: str, value: str
) -> ChallengeResult:
    """Publish ``value`` at ``_acme-challenge.<identifier>`` and wait until it is live."""
    return await _run("present", config, registry, store, identifier, value)


async def cleanup(
    config: Config, registry: Registry, store: StateStore, identifier: str, value: str
) -> ChallengeResult:
    """Remove ``value`` from ``_acme-challenge.<identifier>`` (other values stay) and wait
    until no nameserver serves it."""
    return await _run("cleanup", config, registry, store, identifier, value)


async def _run(
    action: Action,
    config: Config,
    registry: Registry,
    store: StateStore,
    identifier: str,
    value: str,
) -> ChallengeResult:
    try:
        name = challenge_name(identifier)
    except ValueError as exc:
        raise ConfigError(
            f"{identifier!r}: not a valid name for a DNS-01 challenge: {exc}"
        ) from None
    if not value or any(ord(c) < 0x21 or ord(c) > 0x7E for c in value):
        raise ConfigError(f"challenge value {value!r}: expected printable ASCII without blanks")
    job = job_for(config, name)
    result = ChallengeResult(action, name.to_text(), value, job.domain)
    provider = registry.create(job.server, ProviderContext(server_id=job.server_id))
    try:
        if provider.capabilities.requires_person:
            raise _by_hand(name, job)
        zone = await provider.find_zone(name)
        result.zone = zone.name.to_text()

        def new_result() -> DomainResult:
            return DomainResult(domain=job.domain, server_id=job.server_id, zone=str(zone))

        planner = _planner(action, job, zone, name, value)
        async with _locked(Path(config.daemon.state_dir), name):
            result.changes = await apply_planned(
                store, "acme-" + uuid.uuid4().hex[:8], provider, job, zone, [name], planner,
                new_result,
            )  # fmt: skip
        await provider.wait_live(zone)
        expectation = _expectation(action, name, value)
        server = job.server
        delay = server.propagation_delay.total_seconds() if server.propagation_delay else 0.0
        checker = PropagationChecker(NameserverFinder(config.daemon.dns))
        outcome = await checker.wait(
            zone.name,
            [expectation],
            delay=delay if result.changes else 0.0,
            interval=server.polling_interval.total_seconds(),
            propagation_timeout=server.propagation_timeout.total_seconds(),
            query_timeout=server.timeout.total_seconds(),
        )
        result.propagation = outcome
        if not outcome.propagated:
            lagging = "; ".join(
                f"{ns}: {', '.join(why)}" for ns, why in sorted(outcome.lagging.items())
            )
            result.error = (
                f"{result.name} TXT not live on every nameserver after "
                f"{server.propagation_timeout.total_seconds():g}s: {lagging}"
            )
    finally:
        await provider.aclose()
    return result


def _expectation(action: Action, name: dns.name.Name, value: str) -> Expectation:
    rrset = dns.rrset.from_rdata(name, 0, txt_rdata(value))
    if action == "present":
        return Expectation.of(rrset, exact=False)
    return Expectation.without(rrset)


def _planner(
    action: Action, job: DomainJob, zone: Zone, name: dns.name.Name, value: str
) -> Planner:
    rdata = txt_rdata(value)
    if action == "present":
        return beside(zone, [dns.rrset.from_rdata(name, job.server.ttl_seconds, rdata)])
    return functools.partial(without_values, ours={name: {comparable_value(rdata)}})


@contextlib.asynccontextmanager
async def _locked(state_dir: Path, name: dns.name.Name) -> AsyncIterator[None]:
    """An exclusive lock on ``name`` shared by every dnsauto process on this state dir."""
    folder = state_dir / "locks"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{name.to_text().lower()}lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DnsautoError(f"cannot lock {name} under {folder}: {exc.strerror}") from None
    started = time.monotonic()
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        waited = time.monotonic() - started
        if waited > 0.05:
            log.info("%s: waited %.2fs for another hook call on the name", name, waited)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
