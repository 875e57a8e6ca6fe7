"""ACME DNS-01 orders against Debian's Pebble, validating at the test BIND (real parts only).

Pebble's ``-dnsserver`` is the nameserver dnsauto publishes to (or, for the lagging-secondary
test, the secondary that lags), so a challenge answered before that server serves its TXT
value fails validation: a passing order is itself the proof that dnsauto waited.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest
import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dnsauto.acme.orders import OrderOutcome, Orders, certificate_requests
from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.registry import load_registry
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import Engine
from dnsauto.testing.servers import HOST, RunningServer
from dnsauto.testing.servers.fixtures import PebbleFactory
from dnsauto.testing.servers.pebble import RunningPebble
from dnsauto.testing.servers.topology import Topology
from tests.daemon_helpers import DaemonProcess, poll

pytestmark = pytest.mark.servers

HOSTNAME = "mail.example.test"
EAB_MAC = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"


def tsig_server(host: str, port: int, key_name: str, secret: str, algorithm: str) -> dict[str, Any]:
    return {
        "@type": "Tsig",
        "description": "test nameserver",
        "host": host,
        "port": port,
        "keyName": key_name,
        "key": {"@type": "Value", "secret": secret},
        "tsigAlgorithm": algorithm,
        "timeout": "2s",
        "pollingInterval": "50ms",
        "propagationTimeout": "10s",
    }


def document(
    tmp_path: Path,
    pebble: RunningPebble,
    server: dict[str, Any],
    authoritative: list[str],
    **acme: Any,
) -> dict[str, Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    hook = tmp_path / "hook.sh"
    hook.write_text('#!/bin/sh\necho "$DNSAUTO_CERT_NAME $DNSAUTO_CERT_DIR" >> "$0.log"\n')
    hook.chmod(0o755)
    return {
        "bootstrap": {
            "serverHostname": HOSTNAME,
            "defaultDomain": "example.test",
            "generateDkimKeys": False,
            "dnsServer": server,
        },
        "acmeProvider": {"bootstrap": {"directory": pebble.directory_url, "maxRetries": 20}},
        "acme": {
            "obtainCertificates": True,
            "caBundle": str(pebble.tls_ca_path),
            "deployHook": str(hook),
            **acme,
        },
        "daemon": {
            "stateDir": str(tmp_path / "state"),
            "dns": {"authoritativeServers": authoritative},
        },
    }


def bind_document(tmp_path: Path, pebble: RunningPebble, bind: RunningServer) -> dict[str, Any]:
    key = bind.key("hmac-sha256")
    server = tsig_server(bind.host, bind.port, key.bare_name, key.secret, key.algorithm)
    return document(tmp_path, pebble, server, [f"{bind.host}:{bind.port}"])


def txt_at(bind: RunningServer, name: str) -> set[str]:
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    response = dns.query.udp(query, bind.host, port=bind.port, timeout=2)
    return {b"".join(r.strings).decode() for rrset in response.answer for r in rrset}


def nsupdate(bind: RunningServer, zone: str, *ops: tuple[str, str]) -> None:
    key = bind.key("hmac-sha256")
    keyring = dns.tsigkeyring.from_text({key.name: key.secret})
    update = dns.update.UpdateMessage(zone, keyring=keyring, keyalgorithm=key.algorithm)
    for action, value in ops:
        name = dns.name.from_text(f"_acme-challenge.{HOSTNAME}.")
        if action == "add":
            update.add(name, 300, "TXT", value)
        else:
            update.delete(name, "TXT", value)
    response = dns.query.tcp(update, bind.host, port=bind.port, timeout=5)
    assert response.rcode() == 0


def verify_chain(fullchain: bytes, root_pem: str) -> list[x509.Certificate]:
    chain = x509.load_pem_x509_certificates(fullchain)
    root = x509.load_pem_x509_certificate(root_pem.encode())
    for child, parent in zip(chain, [*chain[1:], root], strict=True):
        child.verify_directly_issued_by(parent)
    return chain


def sans(cert: x509.Certificate) -> list[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return ext.value.get_values_for_type(x509.DNSName)


def key_spki(path: Path) -> bytes:
    return spki(serialization.load_pem_private_key(path.read_bytes(), None))


def spki(key_or_cert: Any) -> bytes:
    public = key_or_cert.public_key()
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class Later:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.offset = datetime.timedelta()

    def __call__(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + self.offset


async def run_orders(config: Config, clock: Later | None = None) -> list[OrderOutcome]:
    with StateStore(config.daemon.state_dir) as store:
        async with Engine(config, load_registry(), store=store) as engine:
            orders = Orders(
                config,
                store,
                engine.provider,
                engine.checker,
                run_id=engine.run_id,
                **({"clock": clock} if clock else {}),
            )
            return await orders.run(certificate_requests(config))


@pytest.fixture
def bind_pebble(bind_server: RunningServer, pebble_factory: PebbleFactory) -> RunningPebble:
    return pebble_factory(f"{HOST}:{bind_server.port}")


def test_sync_obtains_the_server_hostname_certificate_and_removes_the_challenge(
    tmp_path: Path, bind_server: RunningServer, bind_pebble: RunningPebble
) -> None:
    path = tmp_path / "dnsauto.toml"
    path.write_text(tomli_w.dumps(bind_document(tmp_path, bind_pebble, bind_server)))

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "dnsauto", "sync", "--json", "--config", str(path)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    (certificate,) = json.loads(done.stdout)["certificates"]
    assert certificate["action"] == "issued", certificate
    assert certificate["requests"] > 0
    assert 0 < certificate["seconds"] < took

    folder = tmp_path / "state" / "certs" / HOSTNAME
    chain = verify_chain((folder / "fullchain.pem").read_bytes(), bind_pebble.root_pem)
    assert sans(chain[0]) == [HOSTNAME]
    key = serialization.load_pem_private_key((folder / "privkey.pem").read_bytes(), None)
    assert spki(key) == spki(chain[0])
    assert stat.S_IMODE((folder / "privkey.pem").stat().st_mode) == 0o640
    upcoming = serialization.load_pem_private_key((folder / "next-privkey.pem").read_bytes(), None)
    assert spki(upcoming) != spki(key)  # the next renewal's key is made ahead
    assert txt_at(bind_server, f"_acme-challenge.{HOSTNAME}") == set()
    assert (tmp_path / "hook.sh.log").read_text() == f"{HOSTNAME} {folder}\n"

    listed = subprocess.run(
        [sys.executable, "-m", "dnsauto", "certs", "--json", "--config", str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)["certificates"]
    assert entry["names"] == [HOSTNAME]
    assert entry["notAfter"] == chain[0].not_valid_after_utc.isoformat(timespec="seconds")
    assert entry["key"]["type"] == "ECDSA secp256r1"
    assert entry["nextRenewal"] is not None
    assert entry["renewalSource"] == "lifetime"
    assert entry["lastError"] is None


async def test_a_renewal_uses_the_key_made_ahead_and_runs_the_deploy_hook(
    tmp_path: Path, bind_server: RunningServer, pebble_factory: PebbleFactory
) -> None:
    pebble = pebble_factory(f"{HOST}:{bind_server.port}", certificate_validity=3600)
    config = load_config(bind_document(tmp_path, pebble, bind_server), registry=load_registry())
    clock = Later()
    (first,) = await run_orders(config, clock)
    assert first.action == "issued", first.error
    (again,) = await run_orders(config, clock)
    assert again.action == "current"  # not due: nothing asked of the CA

    folder = tmp_path / "state" / "certs" / HOSTNAME
    old = x509.load_pem_x509_certificate((folder / "fullchain.pem").read_bytes())
    ahead = key_spki(folder / "next-privkey.pem")
    assert first.status.renew_at is not None
    renew_in = first.status.renew_at - old.not_valid_before_utc
    assert renew_in == (old.not_valid_after_utc - old.not_valid_before_utc) * 2 / 3
    clock.offset = first.status.renew_at - datetime.datetime.now(datetime.UTC)
    (renewal,) = await run_orders(config, clock)

    assert renewal.action == "renewed", renewal.error
    new = verify_chain((folder / "fullchain.pem").read_bytes(), pebble.root_pem)[0]
    assert new.serial_number != old.serial_number
    assert spki(new) == ahead  # issued for next-privkey.pem's key, now privkey.pem
    assert key_spki(folder / "privkey.pem") == ahead
    assert not (folder / "next-fullchain.pem").exists()
    assert key_spki(folder / "next-privkey.pem") != ahead
    assert (tmp_path / "hook.sh.log").read_text().splitlines() == [f"{HOSTNAME} {folder}"] * 2
    assert txt_at(bind_server, f"_acme-challenge.{HOSTNAME}") == set()


async def test_foreign_challenge_text_stays_and_one_batch_holds_every_authorization(
    tmp_path: Path, bind_server: RunningServer, bind_pebble: RunningPebble
) -> None:
    nsupdate(bind_server, "example.test", ("add", '"someone else\'s token"'))
    try:
        doc = bind_document(tmp_path, bind_pebble, bind_server)
        doc["domain"] = {
            "sub.example.test": {
                "dnsManagement": {"@type": "Automatic", "dnsServerId": "bootstrap"},
                "dkimManagement": {"@type": "Manual"},
                "certificateManagement": {"@type": "Automatic", "acmeProviderId": "bootstrap"},
            }
        }
        config = load_config(doc, registry=load_registry())
        outcomes = await run_orders(config)
        assert [o.action for o in outcomes] == ["issued", "issued"], [o.error for o in outcomes]
        wildcard = next(o for o in outcomes if o.request.domain == "sub.example.test")
        assert wildcard.request.names == ("*.sub.example.test", "sub.example.test")
        chain = (tmp_path / "state" / "certs" / "sub.example.test" / "fullchain.pem").read_bytes()
        leaf = verify_chain(chain, bind_pebble.root_pem)[0]
        assert sorted(sans(leaf)) == ["*.sub.example.test", "sub.example.test"]
        # both authorizations' values went out in one change, and came back out in one
        with StateStore(config.daemon.state_dir) as store:
            entries = [e for e in store.journal() if e.name.startswith("_acme-challenge.sub")]
        assert [(e.action, len(e.new)) for e in entries] == [("create", 2), ("delete", 0)]
        assert txt_at(bind_server, f"_acme-challenge.{HOSTNAME}") == {"someone else's token"}
    finally:
        nsupdate(bind_server, "example.test", ("delete", '"someone else\'s token"'))


async def test_rejected_nonces_and_reused_authorizations(
    tmp_path: Path, bind_server: RunningServer, pebble_factory: PebbleFactory
) -> None:
    calm = pebble_factory(f"{HOST}:{bind_server.port}")
    config = load_config(
        bind_document(tmp_path / "calm", calm, bind_server), registry=load_registry()
    )
    (baseline,) = await run_orders(config)
    assert baseline.action == "issued", baseline.error

    noisy = pebble_factory(
        f"{HOST}:{bind_server.port}",
        env={"PEBBLE_WFE_NONCEREJECT": "60", "PEBBLE_AUTHZREUSE": "100"},
    )
    doc = bind_document(tmp_path / "noisy", noisy, bind_server)
    config = load_config(doc, registry=load_registry())
    (first,) = await run_orders(config)
    assert first.action == "issued", first.error
    assert first.status.requests > baseline.status.requests  # the rejected nonces, sent again
    assert len(first.journal) == 2  # the challenge published, then removed

    clock = Later()
    clock.offset = datetime.timedelta(days=10 * 365)
    (second,) = await run_orders(config, clock)
    assert second.action == "renewed", second.error
    assert second.journal == []  # the authorization was reused: no challenge to publish


async def test_a_refused_validation_is_retried_with_backoff(
    tmp_path: Path, bind_server: RunningServer, pebble_factory: PebbleFactory
) -> None:
    # Pebble asks a port where nothing answers DNS: every validation fails.
    pebble = pebble_factory(f"{HOST}:9")
    doc = bind_document(tmp_path, pebble, bind_server)
    doc["daemon"]["retryInitialDelay"] = "1m"
    config = load_config(doc, registry=load_registry())
    (outcome,) = await run_orders(config)
    assert outcome.action == "failed"
    assert outcome.error is not None
    assert getattr(outcome.error, "transient", False)
    assert outcome.status.failures == 1
    assert not outcome.status.needs_attention
    assert outcome.status.next_attempt is not None
    assert txt_at(bind_server, f"_acme-challenge.{HOSTNAME}") == set()  # cleaned up anyway
    (later,) = await run_orders(config)
    assert later.action == "current"  # backing off: not asked again before nextAttempt
    clock = Later()
    clock.offset = datetime.timedelta(minutes=1, seconds=1)
    (retried,) = await run_orders(config, clock)
    assert retried.action == "failed"
    assert retried.status.failures == 2
    assert retried.status.next_attempt is not None
    assert outcome.status.next_attempt is not None
    assert retried.status.next_attempt - clock() > datetime.timedelta(seconds=110)


@pytest.fixture
def net(topology: Topology) -> Iterator[Topology]:
    topology.reset()
    try:
        yield topology
    finally:
        topology.reset()


async def test_the_challenge_is_answered_only_once_the_lagging_secondary_serves_it(
    tmp_path: Path, net: Topology, pebble_factory: PebbleFactory
) -> None:
    # Pebble validates at the Knot secondary, which the test holds frozen at first.
    pebble = pebble_factory(f"{net.knot_secondary.host}:{net.port}")
    key = net.update_key
    server = tsig_server(HOST, net.port, key.name, key.secret, key.algorithm)
    server["propagationTimeout"] = "30s"
    doc = document(tmp_path, pebble, server, [])
    doc["daemon"]["dns"] = {"resolvers": [net.resolver], "authoritativePort": net.port}
    config = load_config(doc, registry=load_registry())
    name = f"_acme-challenge.{HOSTNAME}."
    seen: dict[str, Any] = {}

    async def release() -> None:
        """Thaw Knot once the primary and BIND secondary serve the challenge."""
        await asyncio.to_thread(
            net.wait_until,
            lambda: bool(net.served(net.bind_secondary, name, "TXT")[1]),
            "the challenge at the BIND secondary",
            30,
        )
        seen["knot while frozen"] = net.served(net.knot_secondary, name, "TXT")[1]
        net.thaw()

    net.freeze()
    releaser = asyncio.create_task(release())
    (outcome,) = await run_orders(config)
    await releaser
    assert seen["knot while frozen"] == set()
    assert outcome.action == "issued", outcome.error


def test_a_permanent_refusal_needs_attention(
    tmp_path: Path, bind_server: RunningServer, pebble_factory: PebbleFactory
) -> None:
    pebble = pebble_factory(f"{HOST}:{bind_server.port}", eab_keys={"kid-1": EAB_MAC})
    config = load_config(bind_document(tmp_path, pebble, bind_server), registry=load_registry())
    (outcome,) = asyncio.run(run_orders(config))
    assert outcome.action == "failed"
    assert outcome.status.needs_attention, outcome.error
    assert outcome.status.next_attempt is None

    doc = bind_document(tmp_path, pebble, bind_server)
    doc["acmeProvider"]["bootstrap"].update(
        eabKeyId="kid-1",
        eabHmacKey={"@type": "Value", "secret": EAB_MAC},
    )
    (bound,) = asyncio.run(run_orders(load_config(doc, registry=load_registry())))
    assert bound.action == "issued", bound.error


def test_the_daemon_obtains_the_certificate_after_the_domain_synced(
    tmp_path: Path, bind_server: RunningServer, bind_pebble: RunningPebble
) -> None:
    path = tmp_path / "dnsauto.toml"
    path.write_text(tomli_w.dumps(bind_document(tmp_path, bind_pebble, bind_server)))
    daemon = DaemonProcess(path, secret="").start()
    try:
        daemon.wait_log(f"certificate {HOSTNAME}: issued", timeout=90)
        status = subprocess.run(
            [sys.executable, "-m", "dnsauto", "status", "--json", "--config", str(path)],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        (entry,) = json.loads(status.stdout)["certificates"]
        assert entry["ok"] is True
        assert entry["name"] == HOSTNAME
        assert entry["nextRenewal"] is not None
        folder = tmp_path / "state" / "certs" / HOSTNAME
        poll(lambda: (tmp_path / "hook.sh.log").exists(), what="the deploy hook ran")
        verify_chain((folder / "fullchain.pem").read_bytes(), bind_pebble.root_pem)
    finally:
        daemon.signal(15)
        daemon.wait(timeout=30)
        daemon.stop()
