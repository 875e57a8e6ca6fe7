"""The ``Sig0`` provider: the shared transport, with UPDATEs signed by ``sig0.sign_message``.

The signing itself is tested in ``test_sig0*.py``; this checks that the provider uses it.
"""

from __future__ import annotations

import time
from typing import Any

import dns.name
import dns.update
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from dnsauto_rfc2136 import sig0
from dnsauto_rfc2136.provider import Sig0Provider
from dnsauto_rfc2136.settings import Sig0DnsServer

from dnsauto.plugin import AuthenticationError, Create, ProviderContext, SecretError, Zone
from dnsauto.testing import make_rrset
from dnsauto.testing.servers import ZONE, RunningServer

SIGNER = "updater.example.test."


@pytest.fixture(scope="module")
def private_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def sig0_provider(
    private_key: str, host: str = "127.0.0.1", port: int = 53, **extra: Any
) -> Sig0Provider:
    settings = Sig0DnsServer.model_validate(
        {
            "@type": "Sig0",
            "description": "sig0",
            "host": host,
            "port": port,
            "publicKey": sig0.public_key_record(private_key, "ed25519"),
            "key": {"@type": "Value", "secret": private_key},
            "signerName": SIGNER,
            "timeout": "5s",
            **extra,
        }
    )
    return Sig0Provider(settings, ProviderContext(server_id="signed"))


def test_updates_are_signed_with_sig0_valid_for_the_public_key(private_key: str) -> None:
    provider = sig0_provider(private_key)
    update = dns.update.UpdateMessage(ZONE)
    update.add("sig0-provider", 300, "TXT", '"signed"')
    signer = provider.transport.signer
    assert signer is not None
    wire, _ = signer.sign(update.to_wire())
    public = sig0.public_key_record(private_key, "ed25519")
    assert (
        sig0.check_message(wire, public, int(time.time()), signer=dns.name.from_text(SIGNER))
        is None
    )


def test_private_key_of_the_wrong_kind_names_the_field(private_key: str) -> None:
    provider = sig0_provider(private_key, sig0Algorithm="ecdsa-p256-sha256")
    with pytest.raises(SecretError) as caught:
        _ = provider.transport
    assert caught.value.problems[0].path == "dnsServer.signed.key"
    assert "PRIVATE KEY" not in str(caught.value)


@pytest.mark.servers
async def test_bind_refuses_sig0_updates_and_the_provider_says_so(
    bind_server: RunningServer, private_key: str
) -> None:
    # BIND 9.18.28+ removed SIG(0) (CVE-2024-1975): every SIG(0)-signed update is REFUSED.
    provider = sig0_provider(private_key, port=bind_server.port)
    zone = await provider.find_zone(dns.name.from_text(f"a.{ZONE}"))
    rrset = make_rrset(dns.name.from_text(f"sig0-provider.{ZONE}"), "TXT", 300, '"x"')
    with pytest.raises(AuthenticationError, match=r"REFUSED .*SIG\(0\) key of updater"):
        await provider.apply(zone, [Create(rrset)])


@pytest.mark.servers
async def test_sig0_provider_reads_by_queries_when_unsigned_transfer_is_refused(
    bind_server: RunningServer, private_key: str
) -> None:
    provider = sig0_provider(private_key, port=bind_server.port)
    zone = Zone(dns.name.from_text(ZONE))
    listed = await provider.list_rrsets(zone, [zone.name])
    assert zone.name in provider._no_transfer
    assert {r.rdtype.name for r in listed} >= {"NS", "TXT"}
