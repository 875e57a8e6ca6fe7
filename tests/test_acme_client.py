"""The ACME client's renewal information, the certificate files, the AcmeProvider settings and
the state store's ACME tables.

Pebble 2.4 has no ``renewalInfo``: ARI (RFC 9773) is tested against a small fake of our own
that serves a directory with ``renewalInfo`` and answers ``GET renewalInfo/<certID>`` only for
the certID that RFC 9773 section 4.1 defines (base64url of the Authority Key Identifier's
keyIdentifier, ".", base64url of the serial number's DER content octets).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dnsauto.acme.client import AcmeClient, new_account_key
from dnsauto.acme.orders import certificate_requests, choose_renewal, renewal_due_at
from dnsauto.acme.store import CertificateFiles, csr_for
from dnsauto.config.loader import load_config
from dnsauto.plugin.errors import ConfigError, DnsautoError
from dnsauto.state.store import DB_FILE, SCHEMA_VERSION, CertificateStatus, StateStore
from dnsauto.testing.memory import memory_registry

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def cert_id(cert: x509.Certificate) -> str:
    """RFC 9773 section 4.1, written from the RFC (not from the client's code)."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    serial = cert.serial_number
    length = serial.bit_length() // 8 + 1  # room for the sign bit of a DER INTEGER
    return f"{_b64(aki.key_identifier)}.{_b64(serial.to_bytes(length, 'big'))}"


def issued_cert(serial: int) -> x509.Certificate:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.test")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake CA")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=89))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )


class FakeAri:
    """A CA directory with ``renewalInfo`` on 127.0.0.1, answering like RFC 9773."""

    def __init__(self) -> None:
        self.windows: dict[str, tuple[datetime.datetime, datetime.datetime]] = {}
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                base = f"http://127.0.0.1:{fake.port}"
                if self.path == "/dir":
                    self._json(200, {
                        "newNonce": f"{base}/nonce", "newAccount": f"{base}/account",
                        "newOrder": f"{base}/order", "renewalInfo": f"{base}/renewal-info",
                    })  # fmt: skip
                    return
                prefix = "/renewal-info/"
                window = fake.windows.get(self.path.removeprefix(prefix))
                if not self.path.startswith(prefix) or window is None:
                    self._json(404, {"type": "urn:ietf:params:acme:error:malformed"})
                    return
                start, end = (w.isoformat().replace("+00:00", "Z") for w in window)
                self._json(200, {"suggestedWindow": {"start": start, "end": end}},
                           {"Retry-After": "21600"})  # fmt: skip

            def _json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ari() -> Iterator[FakeAri]:
    fake = FakeAri()
    try:
        yield fake
    finally:
        fake.close()


async def test_renewal_information_moves_renewal_into_the_window_the_ca_suggests(
    ari: FakeAri,
) -> None:
    cert = issued_cert(serial=0x87654321)  # high bit set: the DER INTEGER gets a 0x00 byte
    start, end = NOW + datetime.timedelta(days=3), NOW + datetime.timedelta(days=4)
    ari.windows[cert_id(cert)] = (start, end)
    client = AcmeClient(f"http://127.0.0.1:{ari.port}/dir", new_account_key())
    await client.read_directory()
    assert client.has_ari
    pem = cert.public_bytes(serialization.Encoding.PEM)

    suggested = await client.renewal_time(pem)

    assert suggested is not None
    assert start <= suggested <= end
    assert ari.requests[-1] == f"/renewal-info/{cert_id(cert)}"
    lifetime = renewal_due_at(cert.not_valid_before_utc, cert.not_valid_after_utc, (2, 3))
    assert choose_renewal(lifetime, suggested) == (suggested, "ari")
    late = NOW + datetime.timedelta(days=200)
    assert choose_renewal(lifetime, late) == (lifetime, "lifetime")
    assert choose_renewal(lifetime, None) == (lifetime, "lifetime")
    assert client.requests == 2  # the directory and the renewal information


async def test_renewal_information_the_ca_does_not_know_is_an_error_not_a_time(
    ari: FakeAri,
) -> None:
    client = AcmeClient(f"http://127.0.0.1:{ari.port}/dir", new_account_key())
    await client.read_directory()
    pem = issued_cert(serial=5).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(DnsautoError, match="renewalInfo"):
        await client.renewal_time(pem)


# --- certificate files ----------------------------------------------------------------------


def test_files_are_written_atomically_with_private_modes(tmp_path: Path) -> None:
    files = CertificateFiles(tmp_path, "mail.example.test")
    key = files.ensure_next_key("EcdsaP256")
    assert files.ensure_next_key("EcdsaP256").public_key() == key.public_key()  # made once
    assert stat.S_IMODE(files.next_privkey_path.stat().st_mode) == 0o640
    assert stat.S_IMODE(files.directory.stat().st_mode) == 0o750
    files.install("-----BEGIN CERTIFICATE-----\n", key)
    assert not files.next_privkey_path.exists()  # the next key was this one: used up
    assert stat.S_IMODE(files.privkey_path.stat().st_mode) == 0o640
    assert stat.S_IMODE(files.fullchain_path.stat().st_mode) == 0o644
    assert [p.name for p in files.directory.iterdir() if p.name.startswith(".")] == []


def test_an_unknown_group_names_the_setting(tmp_path: Path) -> None:
    files = CertificateFiles(tmp_path, "mail.example.test", group="no-such-group-here")
    with pytest.raises(DnsautoError, match=r"acme\.group: no group 'no-such-group-here'"):
        files.ensure_next_key("EcdsaP256")


def test_the_csr_names_every_name_and_rsa_keys_can_be_chosen(tmp_path: Path) -> None:
    files = CertificateFiles(tmp_path, "example.test")
    key = files.ensure_next_key("Rsa2048")
    csr = x509.load_pem_x509_csr(csr_for(key, ["*.example.test", "example.test"]))
    names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["*.example.test", "example.test"]
    assert csr.is_signature_valid


# --- configuration --------------------------------------------------------------------------


def base(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "bootstrap": {
            "serverHostname": "mail.example.test",
            "defaultDomain": "example.test",
            "dnsServer": {"@type": "Memory", "description": "memory"},
        },
        "daemon": {"stateDir": str(tmp_path)},
        **extra,
    }


def test_the_bootstrap_implies_its_acme_provider_as_stalwart_does(tmp_path: Path) -> None:
    config = load_config(base(tmp_path, acme={"obtainCertificates": True}),
                         registry=memory_registry())  # fmt: skip
    provider = config.acme_providers["bootstrap"]
    assert provider.directory == "https://acme-v02.api.letsencrypt.org/directory"
    assert provider.challenge_type == "Dns01"
    assert provider.renew_before == "R23"
    assert provider.contacts("example.test") == ("mailto:postmaster@example.test",)
    (request,) = certificate_requests(config)
    assert request.names == ("mail.example.test",)

    manual = base(tmp_path, acme={"obtainCertificates": True})
    del manual["bootstrap"]["dnsServer"]
    config = load_config(manual, registry=memory_registry())
    assert config.acme_providers["bootstrap"].challenge_type == "TlsAlpn01"
    assert certificate_requests(config) == []  # dnsauto answers Dns01 only
    off = load_config(base(tmp_path), registry=memory_registry())
    assert certificate_requests(off) == []  # Stalwart obtains its own unless asked


def test_bad_acme_settings_name_the_field(tmp_path: Path) -> None:
    bad = base(tmp_path, acmeProvider={"ca": {"contact": ["not an address"]}})
    with pytest.raises(ConfigError, match=r"acmeProvider\.ca\.contact"):
        load_config(bad, registry=memory_registry())
    dangling = base(
        tmp_path,
        acme={"obtainCertificates": True},
        domain={
            "example.org": {
                "dnsManagement": {"@type": "Automatic", "dnsServerId": "bootstrap"},
                "certificateManagement": {"@type": "Automatic", "acmeProviderId": "nope"},
            }
        },
    )
    with pytest.raises(ConfigError, match=r"certificateManagement\.acmeProviderId"):
        load_config(dangling, registry=memory_registry())


# --- state store ----------------------------------------------------------------------------


def test_a_version_1_store_gains_the_acme_tables_and_keeps_its_data(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        store.put_object("Domain", "x", {"name": "example.test"})
    db = sqlite3.connect(tmp_path / DB_FILE)
    db.execute("DROP TABLE acme_accounts")
    db.execute("DROP TABLE acme_certificates")
    db.execute("DELETE FROM schema_version WHERE version > 1")
    db.commit()
    db.close()
    with StateStore(tmp_path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.get_object("Domain", "x") == {"name": "example.test"}
        first = store.add_acme_account("https://ca.test/dir", new_account_key())
        second = store.add_acme_account("https://ca.test/dir", new_account_key())
        assert second.key_pem == first.key_pem  # made once: the key kept wins
        assert first.key_pem not in repr(first)
        store.save_certificate_status(
            CertificateStatus(name="a", domain="d", provider_id="p", names=["a"], failures=2)
        )
        status = store.certificate_status("a")
        assert status is not None
        assert status.failures == 2
    assert stat.S_IMODE(os.stat(tmp_path / DB_FILE).st_mode) == 0o600


# --- what the daemon shows of an order: the API's Task and the metrics ----------------------


def test_a_failed_order_fails_the_run_s_task_and_shows_in_the_metrics(tmp_path: Path) -> None:
    from dnsauto.acme.client import AcmeError
    from dnsauto.acme.orders import OrderOutcome
    from dnsauto.api.tasks import TaskTracker
    from dnsauto.service.metrics import Metrics

    config = load_config(base(tmp_path, acme={"obtainCertificates": True}),
                         registry=memory_registry())  # fmt: skip
    (request,) = certificate_requests(config)
    status = CertificateStatus(
        name=request.name, domain=request.domain, provider_id="bootstrap",
        names=list(request.names), failures=3, next_attempt=NOW, requests=7,
        last_error="ACME newOrder: rateLimited: too many",
    )  # fmt: skip
    error = AcmeError("ACME newOrder: rateLimited: too many", transient=True)
    outcome = OrderOutcome(request, "failed", status, error)

    tasks = TaskTracker()
    tasks.record_certificate("run1", outcome)
    tasks.record_certificate("run1", OrderOutcome(request, "current", status))  # not an order
    task = tasks.view("run1", waiting={}, syncing={}, last_results={})
    assert task is not None
    assert task["onSuccessRenewCertificate"] is True
    assert task["runStatus"] == "failed"
    assert task["status"]["@type"] == "Failed"
    assert "mail.example.test: ACME newOrder: rateLimited" in task["status"]["failureReason"]
    assert task["certificates"]["mail.example.test"]["action"] == "failed"
    assert task["certificates"]["mail.example.test"]["needsAttention"] is False

    metrics = Metrics()
    metrics.certificate(request.name, "failed", not_after=None, renew_at=None, failures=3,
                        requests=7)  # fmt: skip
    text = metrics.render().decode()
    assert (
        'dnsauto_certificate_orders_total{certificate="mail.example.test",result="failed"} 1.0'
        in text
    )
    assert 'dnsauto_certificate_consecutive_failures{certificate="mail.example.test"} 3.0' in text
    assert 'dnsauto_acme_requests_total{certificate="mail.example.test"} 7.0' in text
