"""Debian's certbot and lego each obtain a certificate from Pebble through `dnsauto acme-hook`.

Pebble validates DNS-01 against the topology's BIND primary; the hook publishes through it and
returns only when both secondaries serve the value too. Each order is for a host and its
wildcard, so two values stand at one ``_acme-challenge`` name at once; both clients must end
with a chain that verifies against Pebble's root and no challenge record left behind.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from dnsauto.testing.servers.pebble import RunningPebble
from dnsauto.testing.servers.topology import Topology
from tests.acme_hook_helpers import fresh_host, hook_env, net, served_everywhere, write_config

__all__ = ["net"]

pytestmark = pytest.mark.servers

BIN = Path(sys.executable).parent


def program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin")
    if found is None:
        pytest.skip(f"{name} is not installed: install the Debian package {name}")
    return found


def check_certificate(pem: bytes, host: str, pebble: RunningPebble) -> None:
    """The chain names ``host`` and ``*.host`` and verifies up to Pebble's root."""
    leaf, *issuers = x509.load_pem_x509_certificates(pem)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == sorted([host, f"*.{host}"])
    root = x509.load_pem_x509_certificate(pebble.root_pem.encode())
    chain = [leaf, *issuers]
    for child, parent in zip(chain, [*issuers, root], strict=True):
        child.verify_directly_issued_by(parent)


def finished(done: subprocess.CompletedProcess[str], pebble: RunningPebble) -> str:
    output = f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return f"exit {done.returncode}\n{output}\n{pebble.log()[-3000:]}"


def test_certbot_gets_a_certificate_through_the_hook(
    net: Topology, pebble_factory: object, tmp_path: Path
) -> None:
    certbot = program("certbot")
    pebble: RunningPebble = pebble_factory(f"127.0.0.1:{net.port}")  # type: ignore[operator]
    config = write_config(tmp_path / "dnsauto.toml", net, timeout="30s")
    host = fresh_host("certbot")
    hook = f"{BIN / 'dnsauto'} acme-hook"

    done = subprocess.run(
        [
            certbot,
            "certonly",
            "--non-interactive",
            "--agree-tos",
            "--register-unsafely-without-email",
            "--manual",
            "--preferred-challenges",
            "dns",
            "--manual-auth-hook",
            hook,
            "--manual-cleanup-hook",
            hook,
            "--server",
            pebble.directory_url,
            "--config-dir",
            str(tmp_path / "certbot" / "config"),
            "--work-dir",
            str(tmp_path / "certbot" / "work"),
            "--logs-dir",
            str(tmp_path / "certbot" / "logs"),
            "-d",
            host,
            "-d",
            f"*.{host}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=hook_env(config, REQUESTS_CA_BUNDLE=str(pebble.tls_ca_path)),
    )

    assert done.returncode == 0, finished(done, pebble)
    live = tmp_path / "certbot" / "config" / "live" / host / "fullchain.pem"
    check_certificate(live.read_bytes(), host, pebble)
    assert served_everywhere(net, f"_acme-challenge.{host}.") == [set()] * 3


def test_lego_gets_a_certificate_through_the_exec_provider(
    net: Topology, pebble_factory: object, tmp_path: Path
) -> None:
    lego = program("lego")
    pebble: RunningPebble = pebble_factory(f"127.0.0.1:{net.port}")  # type: ignore[operator]
    config = write_config(tmp_path / "dnsauto.toml", net, timeout="30s")
    host = fresh_host("lego")

    done = subprocess.run(
        [
            lego,
            "--accept-tos",
            "--email",
            "hostmaster@example.test",
            "--server",
            pebble.directory_url,
            "--path",
            str(tmp_path / "lego"),
            "--dns",
            "exec",
            # dnsauto's hook has checked every authoritative nameserver already; lego's own
            # check would ask them on port 53. Its resolver questions go to the primary.
            "--dns.disable-cp",
            "--dns.resolvers",
            f"127.0.0.1:{net.port}",
            "--domains",
            host,
            "--domains",
            f"*.{host}",
            "run",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=hook_env(
            config,
            EXEC_PATH=str(BIN / "dnsauto-acme-hook"),
            EXEC_SEQUENCE_INTERVAL="1",
            LEGO_CA_CERTIFICATES=str(pebble.tls_ca_path),
        ),
    )

    assert done.returncode == 0, finished(done, pebble)
    issued = tmp_path / "lego" / "certificates" / f"{host}.crt"
    check_certificate(issued.read_bytes(), host, pebble)
    assert served_everywhere(net, f"_acme-challenge.{host}.") == [set()] * 3
