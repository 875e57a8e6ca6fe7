"""The Pebble fixture: a real ACME CA on loopback, validating DNS-01 against the test BIND."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from dnsauto.testing.servers.pebble import RunningPebble

pytestmark = pytest.mark.servers


def test_pebble_directory_answers_over_its_own_tls(pebble: RunningPebble) -> None:
    directory = json.loads(pebble.get(pebble.directory_url))
    assert {"newNonce", "newAccount", "newOrder"} <= set(directory)
    assert directory["newOrder"].startswith("https://127.0.0.1:")
    assert "renewalInfo" not in directory  # Pebble 2.4 offers no ARI (RFC 9773)


def test_pebble_root_is_a_ca_from_the_management_port(pebble: RunningPebble) -> None:
    root = x509.load_pem_x509_certificate(pebble.root_pem.encode())
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.issuer == root.subject
    assert pebble.dns_server.startswith("127.0.0.1:")
