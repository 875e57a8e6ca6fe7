"""DANE-safe TLSA rollover: when a renewed certificate may be put in place.

A sender that looked up a host's TLSA RRset may use its cached copy until the TTL runs out, and
it refuses a certificate none of its records matches. So the renewal's key is made ahead
(``next-privkey.pem``) and its ``3 1 1`` record published beside the current key's
(:mod:`dnsauto.records.tlsa`); the renewed certificate, made with that key, waits in
``next-fullchain.pem`` until every authoritative nameserver serves the new record and at least
the TTL has passed since that was first seen, so no cache can still hold an RRset without it.
After it is put in place the old key's record goes at the next sync. At every moment each
RRset a sender can hold has a record for the certificate being served:

==========================  ==========================  ============================
step                        certificate served          RRsets a cache can hold
==========================  ==========================  ============================
before                      old key                     {old}
next key made, synced       old key                     {old}, {old, next}
all serve it, TTL passed    old key                     {old, next}
renewal put in place        next key                    {old, next}
synced again                next key                    {old, next}, {next, ...}
==========================  ==========================  ============================

:func:`may_deploy` takes what the order flow has at hand; :func:`tlsa_served` is the check of
the nameservers it is normally given.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdatatype
from cryptography.hazmat.primitives import serialization

from dnsauto.config.domain import DnsRecordType
from dnsauto.config.model import Config
from dnsauto.plugin.changes import comparable_value
from dnsauto.plugin.names import to_name
from dnsauto.records.mail import build_records
from dnsauto.records.tlsa import (
    FULLCHAIN,
    NEXT_FULLCHAIN,
    NEXT_PRIVKEY,
    key_spki,
    load_managed_certificates,
    read_chain,
    spki_digest,
)
from dnsauto.sync.jobs import domain_jobs
from dnsauto.sync.propagation import Expectation, NameserverFinder, PropagationChecker

__all__ = ["LIVE_SINCE", "Served", "may_deploy", "next_digest", "ready_at", "tlsa_served"]

log = logging.getLogger(__name__)

LIVE_SINCE = "next-tlsa-live.json"
"""In the certificate's directory: since when every nameserver serves the next key's record
(``{"digest": hex, "since": ISO 8601}``), so that the wait survives restarts."""

Served = Callable[[str], Awaitable[bool | None]]
"""Given the hex SHA-256 of a key's SubjectPublicKeyInfo: True when every authoritative
nameserver serves a ``3 1 1`` record with it at every TLSA name that should have one, False
when one does not (yet), None when no domain publishes a TLSA record for that key (nothing
for a cache to hold, so nothing to wait for)."""


def _leaf_spki(path: Path) -> bytes | None:
    chain = read_chain(path)
    if not chain:
        return None
    return (
        chain[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def next_digest(directory: Path) -> str | None:
    """The hex SHA-256 of the key the renewed certificate uses: the staged certificate's
    (``next-fullchain.pem``), else ``next-privkey.pem``'s; None when neither exists."""
    spki = _leaf_spki(directory / NEXT_FULLCHAIN)
    if spki is None and (directory / NEXT_PRIVKEY).exists():
        spki = key_spki(directory / NEXT_PRIVKEY)
    return spki_digest(spki).hex() if spki is not None else None


async def may_deploy(
    directory: Path,
    *,
    ttl: float,
    now: datetime.datetime,
    served: Served,
) -> bool:
    """Whether the renewed certificate for ``directory``'s next key may be put in place now.

    :param directory: the certificate's folder, ``<stateDir>/certs/<name>/``, holding
        ``fullchain.pem`` (in use) and the renewal: ``next-fullchain.pem`` (staged), else
        ``next-privkey.pem`` (its key).
    :param ttl: seconds a resolver may cache the TLSA RRset: the TTL it is published with (the
        domain's DnsServer ``ttl``, or the provider's minimum when that is higher).
    :param now: the current time (aware), from the order flow's clock.
    :param served: asks the nameservers, see :data:`Served`; normally
        ``tlsa_served(config)``.

    True at once when nothing is in use yet (the first certificate), when the renewal keeps
    the current key, or when ``served`` says no TLSA record names the key. Otherwise True
    only once ``served`` has said True and ``ttl`` seconds have passed since it first did;
    the moment is kept in ``<directory>/next-tlsa-live.json`` (with the key's digest), and a
    ``served`` False in between starts the wait again.

    :raises DnsautoError: the files cannot be read.
    """
    digest = await asyncio.to_thread(next_digest, directory)
    current = await asyncio.to_thread(_leaf_spki, directory / FULLCHAIN)
    if current is None or digest is None or spki_digest(current).hex() == digest:
        return True
    live = await served(digest)
    marker = directory / LIVE_SINCE
    if live is None:
        return True
    if not live:
        await asyncio.to_thread(_forget, marker)
        log.info("%s: the next key's TLSA record is not live everywhere yet", directory.name)
        return False
    since = await asyncio.to_thread(_since, marker, digest)
    if since is None:
        since = now
        await asyncio.to_thread(_remember, marker, digest, now)
    ready = now >= since + datetime.timedelta(seconds=ttl)
    if not ready:
        log.info(
            "%s: the next key's TLSA record is live everywhere since %s; deploying after %gs",
            directory.name,
            since.isoformat(),
            ttl,
        )
    return ready


def ready_at(directory: Path, *, ttl: float) -> datetime.datetime | None:
    """When :func:`may_deploy` will next say True if the nameservers keep serving the next
    key's record (for the order flow's schedule); None when the wait has not started."""
    digest = next_digest(directory)
    since = _since(directory / LIVE_SINCE, digest) if digest is not None else None
    return since + datetime.timedelta(seconds=ttl) if since is not None else None


def _since(marker: Path, digest: str) -> datetime.datetime | None:
    try:
        recorded = json.loads(marker.read_text())
        if recorded.get("digest") != digest:
            return None
        return datetime.datetime.fromisoformat(recorded["since"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        log.warning("%s is unreadable; the wait for the TTL starts again", marker)
        return None


def _remember(marker: Path, digest: str, now: datetime.datetime) -> None:
    temporary = marker.with_suffix(".tmp")
    temporary.write_text(json.dumps({"digest": digest, "since": now.isoformat()}))
    os.replace(temporary, marker)


def _forget(marker: Path) -> None:
    marker.unlink(missing_ok=True)


def tlsa_served(config: Config, checker: PropagationChecker | None = None) -> Served:
    """The usual :data:`Served`: for every domain publishing ``tlsa`` through a DnsServer,
    the TLSA RRsets its records would hold with a ``3 1 1`` record of the key; every
    authoritative nameserver of the domain's zone asked once for each."""
    checker = checker or PropagationChecker(NameserverFinder(config.daemon.dns))
    tlsa = dns.rdatatype.TLSA

    async def served(digest: str) -> bool | None:
        wanted = bytes.fromhex(digest)
        certificates = await asyncio.to_thread(load_managed_certificates, config.daemon.state_dir)
        asked = False
        for job in domain_jobs(config):
            if DnsRecordType.TLSA not in job.publish or job.server.type == "Manual":
                continue
            rrsets = build_records(
                domain=job.domain,
                publish=[DnsRecordType.TLSA],
                settings=job.settings,
                server_hostname=config.bootstrap.server_hostname,
                mail_server=config.mail_server,
                ttl=job.server.ttl_seconds,
                dkim_keys=[],
                managed_certificates=certificates,
            )
            expectations = [
                Expectation(rrset.name, tlsa, frozenset({comparable_value(r)}), exact=False)
                for rrset in rrsets
                for r in rrset
                if _names_key(r, wanted)
            ]
            if not expectations:
                continue
            asked = True
            zone: dns.name.Name = to_name(job.origin or job.domain)
            outcome = await checker.snapshot(
                zone, expectations, query_timeout=job.server.timeout.total_seconds()
            )
            if not outcome.propagated:
                log.info("%s: next TLSA not live: %s", job.domain, outcome.lagging)
                return False
        return True if asked else None

    return served


def _names_key(rdata: dns.rdata.Rdata, digest: bytes) -> bool:
    fields = (rdata.usage, rdata.selector, rdata.mtype, rdata.cert)  # type: ignore[attr-defined]
    return fields == (3, 1, 1, digest)
