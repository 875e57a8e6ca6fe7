"""Which record families a domain gets, and when CAA is among them, as in Stalwart 0.16.

Written from Stalwart's behaviour (reference/stalwart.md §2.2): a Manual domain's zone file
(``dnsZoneFile``) renders all twelve ``DnsRecordType`` families; CAA is built only for a domain
whose ``certificateManagement`` is ``Automatic``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.rdatatype
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.registry import Registry
from dnsauto.records.dkim import DkimKeyStore
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import DomainJob, desired_records, domain_jobs

STALWART_FAMILIES = [
    "dkim", "tlsa", "spf", "mx", "dmarc", "srv", "mtaSts", "tlsRpt", "caa",
    "autoConfig", "autoConfigLegacy", "autoDiscover",
]  # fmt: skip
AUTOMATIC_CERTIFICATE = {"@type": "Automatic", "acmeProviderId": "letsencrypt"}


def config(tmp_path: Path, registry: Registry, **sections: Any) -> Config:
    bootstrap = {
        "serverHostname": "mail.example.test",
        "defaultDomain": "example.test",
        "generateDkimKeys": False,
        **sections.pop("bootstrap", {}),
    }
    document = {"bootstrap": bootstrap, "daemon": {"stateDir": str(tmp_path)}, **sections}
    return load_config(document, registry=registry)


def job_for(cfg: Config, domain: str) -> DomainJob:
    (job,) = domain_jobs(cfg, [domain])
    return job


def types_at(cfg: Config, domain: str, tmp_path: Path) -> set[tuple[str, str]]:
    with StateStore(tmp_path) as state:
        rrsets = desired_records(cfg, job_for(cfg, domain), DkimKeyStore(state), dkim_keys=[])
    return {(r.name.to_text(), dns.rdatatype.to_text(r.rdtype)) for r in rrsets}


def certificate_pem(host: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_the_bootstrap_default_domain_with_manual_dns_gets_every_family(
    tmp_path: Path, registry: Registry
) -> None:
    cfg = config(tmp_path, registry)

    assert list(job_for(cfg, "example.test").publish) == STALWART_FAMILIES


def test_a_declared_manual_domain_gets_every_family(tmp_path: Path, registry: Registry) -> None:
    cfg = config(tmp_path, registry, domain={"example.org": {"dnsManagement": {"@type": "Manual"}}})

    assert list(job_for(cfg, "example.org").publish) == STALWART_FAMILIES


def test_a_manual_domain_zone_has_mx_caa_and_tlsa(tmp_path: Path, registry: Registry) -> None:
    cfg = config(
        tmp_path,
        registry,
        domain={"example.org": {"certificateManagement": AUTOMATIC_CERTIFICATE}},
        mailServer={
            "mailExchangers": [{"hostname": "mx.example.org"}],
            "tlsaCertificates": [certificate_pem("mx.example.org")],
        },
    )

    present = types_at(cfg, "example.org", tmp_path)

    assert ("example.org.", "MX") in present
    assert ("example.org.", "CAA") in present
    assert ("_25._tcp.mx.example.org.", "TLSA") in present


def test_an_automatic_domain_gets_its_publish_records_only(
    tmp_path: Path, registry: Registry
) -> None:
    cfg = config(
        tmp_path,
        registry,
        dnsServer={"by-hand": {"@type": "Manual", "description": "by hand"}},
        domain={
            "example.org": {
                "dnsManagement": {
                    "@type": "Automatic",
                    "dnsServerId": "by-hand",
                    "publishRecords": ["mx", "spf"],
                },
                "certificateManagement": AUTOMATIC_CERTIFICATE,
            }
        },
    )

    assert types_at(cfg, "example.org", tmp_path) == {
        ("example.org.", "MX"),
        ("example.org.", "TXT"),
    }


def test_no_caa_for_a_domain_without_automatic_certificate_management_whatever_the_bootstrap(
    tmp_path: Path, registry: Registry
) -> None:
    cfg = config(
        tmp_path,
        registry,
        bootstrap={"requestTlsCertificate": True},
        domain={"example.org": {}},
    )

    assert ("example.org.", "CAA") not in types_at(cfg, "example.org", tmp_path)


def test_caa_for_a_domain_with_automatic_certificate_management(
    tmp_path: Path, registry: Registry
) -> None:
    cfg = config(
        tmp_path,
        registry,
        bootstrap={"requestTlsCertificate": False},
        domain={"example.org": {"certificateManagement": AUTOMATIC_CERTIFICATE}},
    )

    assert ("example.org.", "CAA") in types_at(cfg, "example.org", tmp_path)


def test_the_bootstrap_domain_has_automatic_certificates_when_it_requests_a_certificate(
    tmp_path: Path, registry: Registry
) -> None:
    requested = config(tmp_path, registry, bootstrap={"requestTlsCertificate": True})
    not_requested = config(tmp_path, registry, bootstrap={"requestTlsCertificate": False})

    assert ("example.test.", "CAA") in types_at(requested, "example.test", tmp_path)
    assert ("example.test.", "CAA") not in types_at(not_requested, "example.test", tmp_path)
