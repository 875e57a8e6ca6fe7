"""Pebble (Let's Encrypt's test CA, Debian's ``pebble``) on 127.0.0.1, for ACME tests.

:func:`start_pebble` writes a configuration into a temporary directory (``listenAddress`` and
``managementListenAddress`` on free high ports of 127.0.0.1, and a TLS certificate for its own
listener, made here with ``cryptography`` because the package ships none), starts
``pebble -dnsserver HOST:PORT`` so that DNS-01 validation asks the test's nameserver, waits
until the ACME directory answers, and fetches the CA root of the certificates it issues from
``GET /roots/0`` on the management port (Pebble makes a new root at every start).

Clients trust :attr:`RunningPebble.tls_ca_path` for the ACME listener (the CA that signed its
listener's certificate) and verify issued chains against :attr:`RunningPebble.root_pem`.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dnsauto.testing.servers._common import (
    HOST,
    READY_TIMEOUT,
    ServerFailed,
    find_program,
    free_port,
)

__all__ = ["DEFAULT_ENV", "RunningPebble", "start_pebble"]

DEFAULT_ENV: Mapping[str, str] = {
    "PEBBLE_VA_NOSLEEP": "1",
    "PEBBLE_WFE_NONCEREJECT": "0",
    "PEBBLE_AUTHZREUSE": "0",
}
"""What a test gets unless it says otherwise: no random validation sleeps, no rejected
nonces, no reused authorizations (each order validates its challenges). A test of the failure
paths passes other values (``PEBBLE_WFE_NONCEREJECT=50``, ``PEBBLE_VA_ALWAYS_VALID=1``, ...)."""


@dataclass
class RunningPebble:
    """A Pebble CA started for the tests; call :meth:`stop`."""

    directory_url: str
    management_url: str
    dns_server: str
    """``host:port`` that Pebble's DNS-01 validation asks."""
    tls_ca_path: Path
    """PEM of the CA that signed Pebble's listener certificate: what a client trusts."""
    root_pem: str
    """PEM of the root that signs the certificates this Pebble issues."""
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting Pebble's listener."""
        return ssl.create_default_context(cafile=str(self.tls_ca_path))

    def get(self, url: str) -> bytes:
        """GET a URL of this Pebble (ACME or management port), trusting its listener."""
        with urllib.request.urlopen(url, context=self.ssl_context(), timeout=5) as response:
            body: bytes = response.read()
        return body

    def intermediate_pem(self) -> str:
        return self.get(f"{self.management_url}/intermediates/0").decode()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None


def _listener_certificate(workdir: Path) -> tuple[Path, Path, Path]:
    """A small CA and a leaf for 127.0.0.1/localhost signed by it: (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dnsauto Pebble listener CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (workdir / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


def start_pebble(
    dns_server: str,
    *,
    env: Mapping[str, str] | None = None,
    certificate_validity: int | None = None,
    eab_keys: Mapping[str, str] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> RunningPebble:
    """Start Pebble validating DNS-01 against ``dns_server`` (``"127.0.0.1:PORT"``).

    ``env`` is laid over :data:`DEFAULT_ENV`; ``certificate_validity`` (seconds) shortens the
    certificates' lifetime; ``eab_keys`` (key id -> base64url MAC key) makes External Account
    Binding required. A missing ``pebble`` raises :class:`ServerUnavailable`.
    """
    program = find_program("pebble")
    tempdir = tempfile.TemporaryDirectory(prefix="dnsauto-pebble-")
    workdir = Path(tempdir.name)
    ca_path, cert_path, key_path = _listener_certificate(workdir)
    port, management_port = free_port(), free_port()
    while management_port == port:
        management_port = free_port()
    config: dict[str, object] = {
        "listenAddress": f"{HOST}:{port}",
        "managementListenAddress": f"{HOST}:{management_port}",
        "certificate": str(cert_path),
        "privateKey": str(key_path),
        # Ports of the HTTP-01/TLS-ALPN-01 validation targets; DNS-01 needs neither.
        "httpPort": free_port(),
        "tlsPort": free_port(),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": bool(eab_keys),
        "externalAccountMACKeys": dict(eab_keys or {}),
    }
    if certificate_validity is not None:
        config["certificateValidityPeriod"] = certificate_validity
    config_path = workdir / "pebble-config.json"
    config_path.write_text(json.dumps({"pebble": config}, indent=2))
    full_env = {**os.environ, **DEFAULT_ENV, **(env or {})}
    log_path = workdir / "pebble.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [program, "-config", str(config_path), "-dnsserver", dns_server, "-strict=false"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=full_env,
        )
    pebble = RunningPebble(
        directory_url=f"https://{HOST}:{port}/dir",
        management_url=f"https://{HOST}:{management_port}",
        dns_server=dns_server,
        tls_ca_path=ca_path,
        root_pem="",
        env={k: v for k, v in full_env.items() if k.startswith("PEBBLE_")},
        process=process,
        workdir=workdir,
        log_path=log_path,
        _tempdir=tempdir,
    )
    deadline = started + ready_timeout
    while True:
        try:
            json.loads(pebble.get(pebble.directory_url))
            pebble.root_pem = pebble.get(f"{pebble.management_url}/roots/0").decode()
            break
        except (OSError, urllib.error.URLError, ValueError):
            if process.poll() is not None or time.monotonic() > deadline:
                text = pebble.log()
                pebble.stop()
                raise ServerFailed(f"pebble did not start; log:\n{text[-4000:]}") from None
            time.sleep(0.01)
    return pebble
