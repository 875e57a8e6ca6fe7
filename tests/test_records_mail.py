import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta

import dns.name
import dns.rdatatype
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dnsauto.config.domain import (
    BOOTSTRAP_PUBLISH_RECORDS,
    DEFAULT_PUBLISH_RECORDS,
    DkimAlgorithm,
    DnsRecordType,
    Domain,
)
from dnsauto.config.mailserver import MailServer
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.txt import txt_text
from dnsauto.records.dkim import DkimKey, DkimStage
from dnsauto.records.mail import build_records, certificate_authority, pacc_document
from dnsauto.records.zonefile import to_zone_text

D = "example.test"
H = "mail.example.test"
ACCOUNT = "https://acme-v02.api.letsencrypt.org/acme/acct/123456"
CREATED = datetime(2026, 4, 20, tzinfo=UTC)
ED_KEY = DkimKey(
    selector="v1-ed25519-20260420",
    algorithm=DkimAlgorithm.DKIM1_ED25519_SHA256,
    created=CREATED,
    public_value="v=DKIM1; k=ed25519; h=sha256; p=ED25519PUBLICKEY",
    private_pem="unused",
)
RSA_KEY = DkimKey(
    selector="v1-rsa-20260420",
    algorithm=DkimAlgorithm.DKIM1_RSA_SHA256,
    created=CREATED,
    public_value="v=DKIM1; k=rsa; h=sha256; p=RSAPUBLICKEY",
    private_pem="unused",
)

# Stalwart's PACC document for the default services on mail.example.test (serde_json, compact).
PACC = (
    '{"protocols":{"jmap":{"url":"https://mail.example.test/jmap/session"},'
    '"imap":{"host":"mail.example.test"},"pop3":{"host":"mail.example.test"},'
    '"smtp":{"host":"mail.example.test"},"caldav":{"url":"https://mail.example.test/dav/cal/"},'
    '"carddav":{"url":"https://mail.example.test/dav/card/"},'
    '"webdav":{"url":"https://mail.example.test/dav/file/"},'
    '"managesieve":{"host":"mail.example.test"}},'
    '"authentication":{"oauth-public":{"issuer":"https://mail.example.test"},"password":true},'
    '"info":{"provider":{"name":"Stalwart"}}}'
)
PACC_DIGEST = base64.b64encode(hashlib.sha256(PACC.encode()).digest()).decode()

EXPECTED_ZONE = f"""\
example.test. 300 IN MX 10 mail.example.test.
example.test. 300 IN TXT "v=spf1 mx -all"
example.test. 300 IN CAA 0 iodef "mailto:postmaster@example.test"
example.test. 300 IN CAA 0 issue "letsencrypt.org;accounturi={ACCOUNT}"
_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:postmaster@example.test"
v1-ed25519-20260420._domainkey.example.test. 300 IN TXT "v=DKIM1; k=ed25519; h=sha256; p=ED25519PUBLICKEY"
v1-rsa-20260420._domainkey.example.test. 300 IN TXT "v=DKIM1; k=rsa; h=sha256; p=RSAPUBLICKEY"
_mta-sts.example.test. 300 IN TXT "v=STSv1; id=20260420T000000"
_caldavs._tcp.example.test. 300 IN SRV 0 1 443 mail.example.test.
_carddavs._tcp.example.test. 300 IN SRV 0 1 443 mail.example.test.
_imaps._tcp.example.test. 300 IN SRV 0 1 993 mail.example.test.
_jmap._tcp.example.test. 300 IN SRV 0 1 443 mail.example.test.
_pop3s._tcp.example.test. 300 IN SRV 0 1 995 mail.example.test.
_submissions._tcp.example.test. 300 IN SRV 0 1 465 mail.example.test.
_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:postmaster@example.test"
_ua-auto-config.example.test. 300 IN TXT "v=UAAC1; a=sha256; d={PACC_DIGEST}"
_validation-persist.example.test. 300 IN TXT "letsencrypt.org; accounturi={ACCOUNT}; policy=wildcard"
autoconfig.example.test. 300 IN CNAME mail.example.test.
autodiscover.example.test. 300 IN CNAME mail.example.test.
mail.example.test. 300 IN TXT "v=spf1 a -all"
mta-sts.example.test. 300 IN CNAME mail.example.test.
ua-auto-config.example.test. 300 IN CNAME mail.example.test."""  # noqa: E501


def mail_server(**fields):
    base = {"mtaStsPolicyId": "20260420T000000", "acme": {"accountUri": ACCOUNT}}
    return MailServer.model_validate({**base, **fields})


AUTOMATIC_CERTIFICATE = {"@type": "Automatic", "acmeProviderId": "b"}
MANUAL_CERTIFICATE = {"@type": "Manual"}


def domain(**fields):
    return Domain.model_validate({"certificateManagement": AUTOMATIC_CERTIFICATE, **fields})


def build(
    *,
    publish=DEFAULT_PUBLISH_RECORDS,
    settings=None,
    server=None,
    keys=(ED_KEY, RSA_KEY),
):
    return build_records(
        domain=D,
        publish=publish,
        settings=settings or domain(),
        server_hostname=H,
        mail_server=server or mail_server(),
        ttl=300,
        dkim_keys=keys,
    )


def lines(rrsets):
    return to_zone_text(rrsets).splitlines()


def values(rrsets, name, rdtype):
    for rrset in rrsets:
        if rrset.name.to_text() == name and rrset.rdtype == dns.rdatatype.from_text(rdtype):
            return sorted(r.to_text() for r in rrset)
    return []


def test_full_record_set_for_mail_example_test_matches_stalwart_zone():
    rrsets = build()

    assert to_zone_text(rrsets) == EXPECTED_ZONE


def test_records_are_one_rrset_per_name_and_type_with_absolute_names_in_canonical_order():
    rrsets = build(publish=list(DnsRecordType))
    keys = [(r.name, r.rdtype) for r in rrsets]

    assert len(keys) == len(set(keys))
    assert keys == sorted(keys)
    assert all(r.name.is_absolute() for r in rrsets)
    assert all(r.ttl == 300 for r in rrsets)


def test_bootstrap_publish_list_has_no_mx_and_no_caa():
    rrsets = build(publish=BOOTSTRAP_PUBLISH_RECORDS)
    types = {dns.rdatatype.to_text(r.rdtype) for r in rrsets}

    assert "MX" not in types
    assert "CAA" not in types
    assert not any(r.name.to_text().startswith("_validation-persist.") for r in rrsets)
    assert values(rrsets, "example.test.", "TXT") == ['"v=spf1 mx -all"']


def test_only_the_requested_families_are_built():
    rrsets = build(publish=["mx"])

    assert lines(rrsets) == ["example.test. 300 IN MX 10 mail.example.test."]


def test_mail_exchangers_without_hostname_use_the_server_hostname():
    server = mail_server(
        mailExchangers=[{"priority": 10}, {"priority": 20, "hostname": "MX2.Example.Test."}]
    )

    rrsets = build(publish=["mx"], server=server)

    assert values(rrsets, "example.test.", "MX") == [
        "10 mail.example.test.",
        "20 mx2.example.test.",
    ]


def test_spf_a_record_only_for_distinct_mx_hosts_under_the_domain():
    server = mail_server(
        mailExchangers=[
            {"priority": 10, "hostname": "mx1.example.test"},
            {"priority": 20, "hostname": "mx1.example.test"},
            {"priority": 30, "hostname": "mx.provider.example"},
            {"priority": 40, "hostname": "example.test"},
        ]
    )

    rrsets = build(publish=["spf"], server=server)

    assert lines(rrsets) == [
        'example.test. 300 IN TXT "v=spf1 mx -all"',
        'mx1.example.test. 300 IN TXT "v=spf1 a -all"',
    ]


def test_dmarc_mailto_without_at_gets_domain_appended():
    rrsets = build(publish=["dmarc", "tlsRpt"], settings=domain(reportAddressUri="mailto:reports"))

    assert lines(rrsets) == [
        '_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:reports@example.test"',
        '_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:reports@example.test"',
    ]


@pytest.mark.parametrize(
    "uri", ["mailto:dmarc@reports.example.net", "https://reports.example.net/tlsrpt"]
)
def test_report_uri_with_at_or_other_scheme_is_used_as_is(uri):
    rrsets = build(publish=["dmarc", "tlsRpt"], settings=domain(reportAddressUri=uri))

    assert values(rrsets, "_dmarc.example.test.", "TXT") == [f'"v=DMARC1; p=reject; rua={uri}"']
    assert values(rrsets, "_smtp._tls.example.test.", "TXT") == [f'"v=TLSRPTv1; rua={uri}"']


def test_no_report_uri_means_no_dmarc_tls_rpt_or_iodef():
    rrsets = build(settings=domain(reportAddressUri=None))
    names = {r.name.to_text() for r in rrsets}

    assert "_dmarc.example.test." not in names
    assert "_smtp._tls.example.test." not in names
    assert values(rrsets, "example.test.", "CAA") == [
        f'0 issue "letsencrypt.org;accounturi={ACCOUNT}"'
    ]


def test_mta_sts_records_with_the_configured_policy_id():
    assert lines(build(publish=["mtaSts"])) == [
        '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=20260420T000000"',
        "mta-sts.example.test. 300 IN CNAME mail.example.test.",
    ]


def test_cleartext_services_also_get_plain_srv_records_and_webdav_managesieve_get_none():
    server = mail_server(
        services=[
            {"protocol": "imap", "cleartext": True, "hostname": "imap.example.test"},
            {"protocol": "pop3"},
            {"protocol": "smtp", "cleartext": True},
            {"protocol": "webdav"},
            {"protocol": "managesieve"},
        ]
    )

    rrsets = build(publish=["srv"], server=server)

    assert lines(rrsets) == [
        "_imap._tcp.example.test. 300 IN SRV 0 1 143 imap.example.test.",
        "_imaps._tcp.example.test. 300 IN SRV 0 1 993 imap.example.test.",
        "_pop3s._tcp.example.test. 300 IN SRV 0 1 995 mail.example.test.",
        "_submission._tcp.example.test. 300 IN SRV 0 1 587 mail.example.test.",
        "_submissions._tcp.example.test. 300 IN SRV 0 1 465 mail.example.test.",
    ]


def test_no_caa_for_a_domain_whose_certificate_management_is_manual():
    rrsets = build(settings=domain(certificateManagement=MANUAL_CERTIFICATE))

    assert not any(r.rdtype == dns.rdatatype.CAA for r in rrsets)
    assert not any(r.name.to_text().startswith("_validation-persist.") for r in rrsets)


def test_certificate_management_is_manual_by_default_so_no_caa():
    rrsets = build(publish=["caa"], settings=Domain.model_validate({}))

    assert rrsets == []


def test_caa_without_account_uri_has_a_plain_issuer_and_no_validation_persist():
    rrsets = build(publish=["caa"], server=mail_server(acme={}))

    assert lines(rrsets) == [
        'example.test. 300 IN CAA 0 iodef "mailto:postmaster@example.test"',
        'example.test. 300 IN CAA 0 issue "letsencrypt.org"',
    ]


def test_validation_persist_without_wildcard_policy_when_the_certificate_has_extra_names():
    certificate = {**AUTOMATIC_CERTIFICATE, "subjectAlternativeNames": ["imap.example.test"]}
    rrsets = build(publish=["caa"], settings=domain(certificateManagement=certificate))

    assert values(rrsets, "_validation-persist.example.test.", "TXT") == [
        f'"letsencrypt.org; accounturi={ACCOUNT}"'
    ]


def test_no_caa_for_an_acme_directory_without_a_registrable_domain():
    server = mail_server(acme={"directory": "https://localhost:14000/dir", "accountUri": ACCOUNT})

    assert build(publish=["caa"], server=server) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme-v02.api.letsencrypt.org/directory", "letsencrypt.org"),
        ("https://acme-staging-v02.api.letsencrypt.org/directory", "letsencrypt.org"),
        ("https://acme.zerossl.com/v2/DV90", "zerossl.com"),
        ("https://dv.acme-v02.api.pki.goog/directory", "pki.goog"),
        ("https://acme.ca.example.co.uk/dir", "example.co.uk"),
        ("https://localhost:14000/dir", None),
        ("https://192.0.2.1/dir", None),
        ("not a url", None),
    ],
)
def test_certificate_authority_is_the_registrable_domain_of_the_directory(url, expected):
    assert certificate_authority(url) == expected


def test_pacc_document_is_stalwart_bytes_for_the_default_services():
    assert pacc_document(H, MailServer().services).decode() == PACC


def test_pacc_lists_only_the_configured_services_and_follows_the_jmap_host():
    server = mail_server(
        services=[
            {"protocol": "smtp"},
            {"protocol": "jmap", "hostname": "jmap.example.test"},
            {"protocol": "imap", "hostname": "imap.example.test"},
        ]
    )

    assert pacc_document(H, server.services).decode() == (
        '{"protocols":{"jmap":{"url":"https://jmap.example.test/jmap/session"},'
        '"imap":{"host":"imap.example.test"},"smtp":{"host":"mail.example.test"}},'
        '"authentication":{"oauth-public":{"issuer":"https://jmap.example.test"},'
        '"password":true},"info":{"provider":{"name":"Stalwart"}}}'
    )


def test_autoconfig_txt_is_the_base64_sha256_of_the_pacc_document():
    rrsets = build(publish=["autoConfig"])

    assert lines(rrsets) == [
        f'_ua-auto-config.example.test. 300 IN TXT "v=UAAC1; a=sha256; d={PACC_DIGEST}"',
        "ua-auto-config.example.test. 300 IN CNAME mail.example.test.",
    ]


def test_rsa_dkim_record_over_255_bytes_is_split_into_character_strings():
    long_key = DkimKey(
        selector="v1-rsa-20260420",
        algorithm=DkimAlgorithm.DKIM1_RSA_SHA256,
        created=CREATED,
        public_value="v=DKIM1; k=rsa; h=sha256; p=" + "A" * 392,  # an RSA-2048 SPKI in base64
        private_pem="unused",
    )

    (rrset,) = build(publish=["dkim"], keys=[long_key])
    (rdata,) = rrset

    assert rrset.name.to_text() == "v1-rsa-20260420._domainkey.example.test."
    assert [len(s) for s in rdata.strings] == [255, 165]
    assert txt_text(rdata) == long_key.public_value


def test_retired_dkim_keys_are_not_published():
    retired = DkimKey(
        selector="old",
        algorithm=DkimAlgorithm.DKIM1_RSA_SHA256,
        created=CREATED,
        public_value="v=DKIM1; k=rsa; h=sha256; p=OLD",
        private_pem="unused",
        stage=DkimStage.RETIRED,
    )

    rrsets = build(publish=["dkim"], keys=[ED_KEY, retired])

    assert [r.name.to_text() for r in rrsets] == ["v1-ed25519-20260420._domainkey.example.test."]


@pytest.mark.parametrize(
    ("stage", "published"),
    [
        (DkimStage.PENDING, True),
        (DkimStage.ACTIVE, True),
        (DkimStage.RETIRING, True),
        (DkimStage.RETIRED, False),
    ],
)
def test_dkim_stage_decides_publication_where_stalwart_publishes_every_key(stage, published):
    # A deliberate difference (README "Differences from Stalwart"): Stalwart's DNS task writes
    # a record for every DkimSignature whatever its stage; dnsauto leaves a retired key out.
    key = DkimKey(
        selector="k",
        algorithm=DkimAlgorithm.DKIM1_RSA_SHA256,
        created=CREATED,
        public_value="v=DKIM1; k=rsa; h=sha256; p=K",
        private_pem="unused",
        stage=stage,
    )

    rrsets = build(publish=["dkim"], keys=[key])

    assert bool(rrsets) is published


def test_invalid_domain_raises_value_error():
    with pytest.raises(ValueError, match="not a valid"):
        build_records(
            domain="exa mple..test",
            publish=DEFAULT_PUBLISH_RECORDS,
            settings=domain(),
            server_hostname=H,
            mail_server=mail_server(),
            ttl=300,
            dkim_keys=[],
        )


# --- TLSA ---------------------------------------------------------------------------------


def _certificate(subject, issuer_key, key, *, issuer=None, names=(), ca=False):
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def chain_pem():
    """A leaf for mail.example.test and *.example.test, signed by an intermediate CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test CA", ca_key, ca_key, ca=True)
    leaf = _certificate(
        H, ca_key, leaf_key, issuer="Test CA", names=[H, "*.example.test", "example.test"]
    )
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca))
    return pem.decode(), leaf, ca


def spki_sha256(cert):
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def test_tlsa_records_for_the_leaf_and_the_chain_at_every_host_and_port(tmp_path, chain_pem):
    pem, leaf, ca = chain_pem
    path = tmp_path / "chain.pem"
    path.write_text(pem)
    server = mail_server(tlsaCertificates=[str(path)])

    rrsets = build(publish=["tlsa"], server=server)

    expected_values = sorted([f"3 1 1 {spki_sha256(leaf)}", f"2 1 1 {spki_sha256(ca)}"])
    names = [r.name.to_text() for r in rrsets]
    assert names == sorted(
        [
            "_25._tcp.mail.example.test.",
            "_443._tcp.mail.example.test.",
            "_465._tcp.mail.example.test.",
            "_993._tcp.mail.example.test.",
            "_995._tcp.mail.example.test.",
            "_443._tcp.autoconfig.example.test.",
            "_443._tcp.autodiscover.example.test.",
            "_443._tcp.mta-sts.example.test.",
            "_443._tcp.ua-auto-config.example.test.",
        ],
        key=lambda n: dns.name.from_text(n),
    )
    for rrset in rrsets:
        assert sorted(r.to_text() for r in rrset) == expected_values


def test_tlsa_accepts_inline_pem(chain_pem):
    pem, leaf, _ = chain_pem

    rrsets = build(publish=["tlsa"], server=mail_server(tlsaCertificates=[pem]))

    assert f"3 1 1 {spki_sha256(leaf)}" in values(rrsets, "_25._tcp.mail.example.test.", "TLSA")


def test_tlsa_only_for_hosts_a_certificate_names(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(H, key, key, names=[H])
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    server = mail_server(
        tlsaCertificates=[pem],
        mailExchangers=[{"hostname": "mx.provider.example"}, {"priority": 20}],
    )

    rrsets = build(publish=["tlsa"], server=server)

    assert [r.name.to_text() for r in rrsets] == [
        "_25._tcp.mail.example.test.",
        "_443._tcp.mail.example.test.",
        "_465._tcp.mail.example.test.",
        "_993._tcp.mail.example.test.",
        "_995._tcp.mail.example.test.",
    ]
    assert values(rrsets, "_25._tcp.mail.example.test.", "TLSA") == [f"3 1 1 {spki_sha256(cert)}"]


def test_tlsa_web_names_follow_publish_records_under_automatic_dns(chain_pem):
    pem, _, _ = chain_pem
    settings = domain(
        dnsManagement={"@type": "Automatic", "dnsServerId": "x", "publishRecords": ["autoConfig"]}
    )

    rrsets = build(publish=["tlsa"], settings=settings, server=mail_server(tlsaCertificates=[pem]))
    names = {r.name.to_text() for r in rrsets}

    assert "_443._tcp.ua-auto-config.example.test." in names
    assert "_443._tcp.autoconfig.example.test." not in names
    assert "_443._tcp.mta-sts.example.test." not in names


def test_tlsa_without_certificates_gives_no_records():
    assert build(publish=["tlsa"]) == []


def test_unreadable_tlsa_certificate_raises_dnsauto_error_naming_the_file(tmp_path):
    missing = tmp_path / "missing.pem"

    with pytest.raises(
        DnsautoError, match=re.escape(f"cannot read TLSA certificate chain {missing}")
    ):
        build(publish=["tlsa"], server=mail_server(tlsaCertificates=[str(missing)]))


def test_invalid_tlsa_pem_raises_dnsauto_error_naming_the_file(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n")

    with pytest.raises(DnsautoError, match=re.escape(f"{bad} is not valid PEM")):
        build(publish=["tlsa"], server=mail_server(tlsaCertificates=[str(bad)]))


def test_invalid_inline_tlsa_pem_is_named_by_its_position():
    bad = "-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n"

    with pytest.raises(DnsautoError, match=r"tlsaCertificates\[0\] is not valid PEM"):
        build(publish=["tlsa"], server=mail_server(tlsaCertificates=[bad]))


def test_domains_of_one_mail_server_share_the_rdata_of_their_alike_records():
    publish = ["mx", "srv", "caa", "mtaSts", "autoConfigLegacy", "autoDiscover"]

    def records(domain_name):
        rrsets = build_records(
            domain=domain_name,
            publish=publish,
            settings=domain(),
            server_hostname=H,
            mail_server=mail_server(),
            ttl=300,
            dkim_keys=(),
        )
        origin = dns.name.from_text(domain_name)
        return {(r.name.relativize(origin), r.rdtype): sorted(r, key=id) for r in rrsets}

    one, other = records("one.test"), records("other.test")
    alike = [(a, b) for key in one for a in one[key] for b in other[key] if a == b]
    assert len(alike) >= 10  # every record but the CAA iodef naming the domain's own address
    assert all(a is b for a, b in alike), "the same rdata objects"
