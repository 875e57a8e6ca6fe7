"""DANE-safe TLSA rollover over a whole renewal, on a BIND primary with BIND and Knot secondaries.

At every step each nameserver's TLSA answer is recorded as a resolver would cache it (with the
moment it was fetched and the TTL); then every cached answer still valid at that moment must
match the certificate being served (``3 1 1`` of its key or ``2 1 1`` of an issuer). The
renewed certificate comes from another intermediate (Let's Encrypt picks among several), so
only the next key's ``3 1 1`` record can carry the rollover, and a deploy at renewal time (as
Stalwart does) is shown to leave a lagging nameserver's cached answer without a match.
Time is a clock the test moves; the nameservers and the sync are real.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.rdatatype
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dnsauto.acme.rollover import LIVE_SINCE, may_deploy, ready_at, tlsa_served
from dnsauto.config.loader import load_config_file
from dnsauto.plugin.registry import load_registry
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import Engine, domain_jobs
from dnsauto.testing.servers.topology import Member, Topology, query
from tests.acme_hook_helpers import fresh_host, net, write_config

__all__ = ["net"]

T0 = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.UTC)
TTL = 300
Record = tuple[int, int, int, bytes]


# --- a CA of our own, issuing as an ACME CA would --------------------------------------------


def spki(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class Issuer:
    name: x509.Name
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def make_ca(common_name: str, parent: Issuer | None = None) -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(parent.name if parent else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - datetime.timedelta(days=1))
        .not_valid_after(T0 + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(parent.key if parent else key, hashes.SHA256())
    )
    return Issuer(name, key, cert)


def issue(key: ec.EllipticCurvePrivateKey, issuer: Issuer, host: str) -> bytes:
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(issuer.name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - datetime.timedelta(hours=1))
        .not_valid_after(T0 + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, issuer.cert))


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def matches(records: frozenset[Record], fullchain: bytes) -> bool:
    """Whether a DANE-EE/DANE-TA verifier holding ``records`` accepts the served chain."""
    leaf, *issuers = x509.load_pem_x509_certificates(fullchain)
    wanted = {(3, 1, 1, hashlib.sha256(spki(leaf.public_key())).digest())}  # type: ignore[arg-type]
    wanted |= {(2, 1, 1, hashlib.sha256(spki(i.public_key())).digest()) for i in issuers}  # type: ignore[arg-type]
    return bool(records & wanted)


# --- what resolvers could have cached --------------------------------------------------------


@dataclass(frozen=True)
class Cached:
    member: str
    records: frozenset[Record]
    fetched: datetime.datetime

    def valid_at(self, now: datetime.datetime) -> bool:
        return now < self.fetched + datetime.timedelta(seconds=TTL)


def tlsa_at(member: Member, name: str) -> frozenset[Record]:
    response = query(member, name, "TLSA")
    return frozenset(
        (r.usage, r.selector, r.mtype, r.cert)
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.TLSA
        for r in rrset
    )


class Resolvers:
    """Every answer any nameserver gave, as caches holding it until the TTL runs out."""

    def __init__(self, net: Topology, name: str) -> None:
        self.net, self.name = net, name
        self.caches: list[Cached] = []

    def fetch(self, now: datetime.datetime) -> list[frozenset[Record]]:
        answers = []
        for member in self.net.members:
            records = tlsa_at(member, self.name)
            self.caches.append(Cached(str(member), records, now))
            answers.append(records)
        return answers

    def unmatched(self, now: datetime.datetime, served: bytes) -> list[Cached]:
        return [c for c in self.caches if c.valid_at(now) and not matches(c.records, served)]

    def assert_safe(self, now: datetime.datetime, served: bytes) -> None:
        bad = self.unmatched(now, served)
        assert not bad, f"cached TLSA answers without a match for the served certificate: {bad}"


# --- the rollover ----------------------------------------------------------------------------


def rollover_config(path: Path, net: Topology, host: str) -> Path:
    """TLSA only, at the MX host's port 25 (no services), with certificates by ACME."""
    return write_config(
        path,
        net,
        timeout="20s",
        host=host,
        ttl=f"{TTL}s",
        mail_server={"services": []},
        domain={
            "dnsManagement": {
                "@type": "Automatic",
                "dnsServerId": "primary",
                "publishRecords": ["tlsa"],
            },
            "certificateManagement": {"@type": "Automatic"},
        },
    )


def digest(key: ec.EllipticCurvePrivateKey) -> bytes:
    return hashlib.sha256(spki(key)).digest()


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


@pytest.mark.servers
async def test_a_whole_rollover_leaves_no_cached_tlsa_without_a_match(
    net: Topology, tmp_path: Path
) -> None:
    host = fresh_host("mx")
    name = f"_25._tcp.{host}."
    config_path = rollover_config(tmp_path / "dnsauto.toml", net, host)
    registry = load_registry()
    config = load_config_file(config_path, registry)
    folder = tmp_path / "state" / "certs" / host
    folder.mkdir(parents=True)
    root = make_ca("Test Root")
    r10, r11 = make_ca("R10", root), make_ca("R11", root)
    k1, k2, k3 = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    resolvers = Resolvers(net, name)
    served = tlsa_served(config)
    store = StateStore(tmp_path / "state")

    async def sync(*, wait: bool) -> None:
        async with Engine(config, registry, store=store) as engine:
            (result,) = await engine.run(domain_jobs(config), apply=True, wait=wait)
        assert result.error is None, result.error

    async def deployable(now: datetime.datetime) -> bool:
        return await may_deploy(folder, ttl=TTL, now=now, served=served)

    def all_serve(records: set[Record], members: Sequence[Member]) -> None:
        net.wait_until(
            lambda: all(tlsa_at(m, name) == records for m in members),
            f"{', '.join(map(str, members))} to serve {len(records)} TLSA records",
        )

    # 1. The first certificate (key K1, from R10), published; nothing else to roll.
    write(folder / "fullchain.pem", issue(k1, r10, host))
    write(folder / "privkey.pem", key_pem(k1))
    assert await deployable(T0), "nothing cached yet: the first certificate goes in at once"
    await sync(wait=True)
    first = {(3, 1, 1, digest(k1)), (2, 1, 1, hashlib.sha256(spki(r10.key)).digest())}
    all_serve(first, net.members)
    now = T0
    resolvers.fetch(now)
    resolvers.assert_safe(now, (folder / "fullchain.pem").read_bytes())

    # 2. The next key K2 is made ahead; Knot lags behind the sync that publishes it.
    now += datetime.timedelta(seconds=10)
    write(folder / "next-privkey.pem", key_pem(k2))
    with net.frozen():
        await sync(wait=False)
        both = first | {(3, 1, 1, digest(k2))}
        all_serve(both, net.members[:2])
        assert tlsa_at(net.knot_secondary, name) == first
        resolvers.fetch(now)
        resolvers.assert_safe(now, (folder / "fullchain.pem").read_bytes())

        # 3. The renewal comes back (K2, from the other intermediate) and is staged: Knot does
        # not serve K2's record, however long that lasts.
        renewed = issue(k2, r11, host)
        write(folder / "next-fullchain.pem", renewed)
        assert not await deployable(now)
        now += datetime.timedelta(seconds=2 * TTL)
        assert not await deployable(now)
        assert not (folder / LIVE_SINCE).exists()
        assert ready_at(folder, ttl=TTL) is None
        resolvers.fetch(now)
        resolvers.assert_safe(now, (folder / "fullchain.pem").read_bytes())
        # Deploying now, as Stalwart does at renewal, would fail the senders asking Knot:
        assert [c.member for c in resolvers.unmatched(now, renewed)] == [str(net.knot_secondary)]
        # The worst case: a resolver asks Knot the instant before it catches up.
        now += datetime.timedelta(seconds=10)
        resolvers.fetch(now)
    net.wait_in_sync()
    all_serve(both, net.members)

    # 4. Every nameserver serves K2's record (first seen now): the renewal waits one TTL more,
    # until the answer Knot gave the instant before has expired everywhere.
    live_since = now
    assert not await deployable(now)
    assert json.loads((folder / LIVE_SINCE).read_text())["since"] == live_since.isoformat()
    assert ready_at(folder, ttl=TTL) == live_since + datetime.timedelta(seconds=TTL)
    now = live_since + datetime.timedelta(seconds=TTL - 1)
    assert not await deployable(now)
    assert resolvers.unmatched(now, renewed), "Knot's stale answer is still cached"
    now = live_since + datetime.timedelta(seconds=TTL)
    assert await deployable(now)
    resolvers.fetch(now)
    resolvers.assert_safe(now, renewed)
    resolvers.assert_safe(now, (folder / "fullchain.pem").read_bytes())

    # 5. Put in place as the order flow does (key, then chain), and the next key made ahead.
    os.replace(folder / "next-privkey.pem", folder / "privkey.pem")
    os.replace(folder / "next-fullchain.pem", folder / "fullchain.pem")
    write(folder / "next-privkey.pem", key_pem(k3))
    resolvers.assert_safe(now, renewed)

    # 6. The next sync drops K1 and R10, keeps K2, adds R11 and the following key K3.
    now += datetime.timedelta(seconds=1)
    await sync(wait=True)
    after = {
        (3, 1, 1, digest(k2)),
        (3, 1, 1, digest(k3)),
        (2, 1, 1, hashlib.sha256(spki(r11.key)).digest()),
    }
    all_serve(after, net.members)
    resolvers.fetch(now)
    resolvers.assert_safe(now, renewed)
    for later in (now + datetime.timedelta(seconds=TTL), now + datetime.timedelta(days=30)):
        resolvers.assert_safe(later, renewed)
    store.close()


async def test_nothing_to_wait_for_without_a_tlsa_record_or_a_new_key(tmp_path: Path) -> None:
    root = make_ca("Root")
    k1, k2 = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    asked: list[str] = []

    async def nobody_publishes(key_digest: str) -> bool | None:
        asked.append(key_digest)
        return None

    write(tmp_path / "fullchain.pem", issue(k1, root, "mx.example.test"))
    write(tmp_path / "next-privkey.pem", key_pem(k1))  # reuseKey: the same key again
    assert await may_deploy(tmp_path, ttl=TTL, now=T0, served=nobody_publishes)
    assert asked == []
    write(tmp_path / "next-privkey.pem", key_pem(k2))
    assert await may_deploy(tmp_path, ttl=TTL, now=T0, served=nobody_publishes)
    assert asked == [digest(k2).hex()]


async def test_a_record_that_disappears_starts_the_wait_again(tmp_path: Path) -> None:
    root = make_ca("Root")
    k1, k2 = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    write(tmp_path / "fullchain.pem", issue(k1, root, "mx.example.test"))
    write(tmp_path / "next-fullchain.pem", issue(k2, root, "mx.example.test"))
    answers = iter([True, False, True, True])

    async def flaky(key_digest: str) -> bool:
        assert key_digest == digest(k2).hex(), "the staged certificate's key is the one asked"
        return next(answers)

    late = T0 + datetime.timedelta(seconds=TTL)
    assert not await may_deploy(tmp_path, ttl=TTL, now=T0, served=flaky)
    assert not await may_deploy(tmp_path, ttl=TTL, now=late, served=flaky)
    assert not await may_deploy(tmp_path, ttl=TTL, now=late, served=flaky), "waits anew"
    assert await may_deploy(
        tmp_path, ttl=TTL, now=late + datetime.timedelta(seconds=TTL), served=flaky
    )
