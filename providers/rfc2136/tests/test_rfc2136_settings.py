"""The ``Tsig`` and ``Sig0`` settings, loaded through the configuration loader."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import dns.name
import pytest
from dnsauto_rfc2136.provider import Sig0Provider, TsigProvider
from dnsauto_rfc2136.settings import Sig0DnsServer, TsigDnsServer

from dnsauto.config.loader import load_config
from dnsauto.plugin import ConfigError, ProviderContext, SecretError, SecretFile, load_registry

SECRET = base64.b64encode(b"k" * 32).decode()


def tsig(**fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@type": "Tsig",
        "description": "primary",
        "host": "192.0.2.1",
        "keyName": "dnsauto.",
        "key": {"@type": "Value", "secret": SECRET},
    }
    document.update(fields)
    return document


def sig0(**fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@type": "Sig0",
        "description": "primary",
        "host": "2001:db8::53",
        "publicKey": "updater.example.test. IN KEY 512 3 15 AAAA",
        "key": {"@type": "File", "filePath": "/etc/dnsauto/sig0.pem"},
        "signerName": "updater.example.test.",
    }
    document.update(fields)
    return document


def load(server: dict[str, Any]) -> Any:
    document = {
        "bootstrap": {"serverHostname": "mail.example.test", "defaultDomain": "example.test"},
        "dnsServer": {"primary": server},
    }
    return load_config(document, registry=load_registry())


def problems(server: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(server)
    return {p.path: p.message for p in caught.value.problems}


def test_entry_points_register_tsig_and_sig0_from_this_distribution() -> None:
    registry = load_registry()
    for type_name, provider_class in (("Tsig", TsigProvider), ("Sig0", Sig0Provider)):
        info = registry.get(type_name)
        assert info is not None
        assert info.provider_class is provider_class
        assert info.distribution == "dnsauto-rfc2136"


def test_tsig_defaults_follow_stalwart() -> None:
    server = load(tsig()).dns_server["primary"]
    assert isinstance(server, TsigDnsServer)
    assert (server.port, server.protocol, server.tsig_algorithm) == (53, "udp", "hmac-sha512")
    assert str(server.host) == "192.0.2.1"
    assert server.timeout.total_seconds() == 30


def test_sig0_defaults_follow_stalwart() -> None:
    server = load(sig0()).dns_server["primary"]
    assert isinstance(server, Sig0DnsServer)
    assert (server.port, server.protocol, server.sig0_algorithm) == (53, "udp", "ed25519")
    assert str(server.host) == "2001:db8::53"


def test_host_must_be_an_ip_address_not_a_hostname() -> None:
    found = problems(tsig(host="ns1.example.test"))
    assert "dnsServer.primary.host" in found
    assert "IP" in found["dnsServer.primary.host"]


@pytest.mark.parametrize("port", [0, 65536, -1, "fifty-three"])
def test_port_outside_1_to_65535_is_refused(port: object) -> None:
    assert "dnsServer.primary.port" in problems(tsig(port=port))


def test_protocol_is_udp_or_tcp() -> None:
    assert "dnsServer.primary.protocol" in problems(tsig(protocol="tls"))


def test_tsig_key_that_is_not_base64_is_refused_naming_the_field() -> None:
    found = problems(tsig(key={"@type": "Value", "secret": "not base64!"}))
    assert "base64" in found["dnsServer.primary.key"]
    assert "not base64!" not in found["dnsServer.primary.key"]


def test_tsig_key_with_line_breaks_is_accepted() -> None:
    folded = SECRET[:20] + "\n" + SECRET[20:]
    server = load(tsig(key={"@type": "Value", "secret": folded})).dns_server["primary"]
    assert server.secret_bytes() == b"k" * 32


def test_tsig_key_from_a_variable_is_checked_when_resolved_naming_the_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DNSAUTO_TEST_TSIG", "%%%")
    server = load(tsig(key={"@type": "EnvironmentVariable", "variableName": "DNSAUTO_TEST_TSIG"}))
    provider = TsigProvider(server.dns_server["primary"], ProviderContext(server_id="primary"))
    with pytest.raises(SecretError) as caught:
        _ = provider.transport
    assert caught.value.problems[0].path == "dnsServer.primary.key"
    assert "base64" in str(caught.value)
    assert "%%%" not in str(caught.value)


async def test_tsig_key_file_is_read_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    readers: list[int] = []
    resolve = SecretFile.resolve

    def watched(secret: SecretFile) -> str:
        readers.append(threading.get_ident())
        return resolve(secret)

    monkeypatch.setattr(SecretFile, "resolve", watched)
    server = load(tsig(key={"@type": "File", "filePath": str(tmp_path / "absent.key")}))
    provider = TsigProvider(server.dns_server["primary"], ProviderContext(server_id="primary"))
    with pytest.raises(SecretError, match=r"dnsServer\.primary\.key: cannot read secret file"):
        await provider.find_zone(dns.name.from_text("example.test."))
    assert readers
    assert threading.get_ident() not in readers


def test_gss_tsig_is_refused_at_load_because_it_needs_kerberos() -> None:
    found = problems(tsig(tsigAlgorithm="gss"))
    assert "Kerberos" in found["dnsServer.primary.tsigAlgorithm"]


def test_unknown_tsig_algorithm_is_refused() -> None:
    assert "dnsServer.primary.tsigAlgorithm" in problems(tsig(tsigAlgorithm="hmac-sha3"))


@pytest.mark.parametrize(
    "algorithm",
    [
        "hmac-md5",
        "hmac-sha1",
        "hmac-sha224",
        "hmac-sha256",
        "hmac-sha256-128",
        "hmac-sha384",
        "hmac-sha384-192",
        "hmac-sha512",
        "hmac-sha512-256",
    ],
)
def test_every_hmac_algorithm_loads(algorithm: str) -> None:
    assert load(tsig(tsigAlgorithm=algorithm)).dns_server["primary"].tsig_algorithm == algorithm


def test_key_name_must_be_a_dns_name() -> None:
    assert "dnsServer.primary.keyName" in problems(tsig(keyName="a..b"))


def test_sig0_algorithm_is_one_of_three() -> None:
    assert "dnsServer.primary.sig0Algorithm" in problems(sig0(sig0Algorithm="rsasha256"))


def test_sig0_signer_name_must_be_a_dns_name() -> None:
    assert "dnsServer.primary.signerName" in problems(sig0(signerName="a..b"))


def test_bootstrap_tsig_server_problems_name_the_bootstrap_path() -> None:
    document = {
        "bootstrap": {
            "serverHostname": "mail.example.test",
            "defaultDomain": "example.test",
            "dnsServer": tsig(port=70000),
        }
    }
    with pytest.raises(ConfigError) as caught:
        load_config(document, registry=load_registry())
    assert [p.path for p in caught.value.problems] == ["bootstrap.dnsServer.port"]
