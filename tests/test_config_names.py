"""Domain and host names have one canonical form (IDNA 2008 with UTS #46 mapping: A-label,
lower case, no trailing dot), and report addresses are URIs that cannot leak into a record."""

from __future__ import annotations

import pytest

from dnsauto.config.loader import load_config
from dnsauto.plugin.errors import ConfigError
from dnsauto.plugin.registry import Registry

BOOT = {"serverHostname": "mail.example.test", "defaultDomain": "example.test"}
SPELLINGS = ["EXAMPLE.ORG.", "ex\u200bample.org", "\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.org"]


def problems(document: object, registry: Registry) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(document, registry=registry, source="f.toml")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_another_spelling_of_a_domain_is_its_canonical_name(
    registry: Registry, spelling: str
) -> None:
    config = load_config({"bootstrap": BOOT, "domain": {spelling: {}}}, registry=registry)
    assert list(config.domain) == ["example.org"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_two_spellings_of_one_domain_are_a_config_error(registry: Registry, spelling: str) -> None:
    found = problems({"bootstrap": BOOT, "domain": {"example.org": {}, spelling: {}}}, registry)
    assert len(found) == 1
    assert found[0].startswith("f.toml: domain: ")
    assert "example.org is spelled twice" in found[0]


def test_a_unicode_domain_is_kept_as_its_a_label(registry: Registry) -> None:
    config = load_config(
        {"bootstrap": BOOT, "domain": {"B\u00fccher.Test.": {}}}, registry=registry
    )
    assert list(config.domain) == ["xn--bcher-kva.test"]


@pytest.mark.parametrize("name", ["\u2603.example.test", "ex ample.test", "a\x00b.test"])
def test_a_domain_with_a_code_point_idna_disallows_is_refused_naming_it(
    registry: Registry, name: str
) -> None:
    found = problems({"bootstrap": BOOT, "domain": {name: {}}}, registry)
    assert len(found) == 1
    assert found[0].startswith("f.toml: domain."), found
    assert "[key]" not in found[0]
    assert "not allowed" in found[0]


@pytest.mark.parametrize("field", ["serverHostname", "defaultDomain"])
def test_bootstrap_names_are_canonical(registry: Registry, field: str) -> None:
    config = load_config(
        {"bootstrap": {**BOOT, field: "\uff2d\uff41\uff49\uff4c.Example.Test."}}, registry=registry
    )
    assert config.bootstrap.model_dump(by_alias=True)[field] == "mail.example.test"
    assert problems({"bootstrap": {**BOOT, field: "m\u2603.example.test"}}, registry) == [
        f"f.toml: bootstrap.{field}: 'm\u2603.example.test' is not a valid domain name: "
        "Codepoint U+2603 at position 2 of 'm\u2603' not allowed"
    ]


def test_mail_exchanger_and_service_host_names_are_canonical(registry: Registry) -> None:
    config = load_config(
        {
            "bootstrap": BOOT,
            "mailServer": {
                "mailExchangers": [{"hostname": "MX\u200b.Example.Test."}],
                "services": [{"protocol": "imap", "hostname": "IMAP.example.test."}],
            },
        },
        registry=registry,
    )
    assert config.mail_server.mail_exchangers[0].hostname == "mx.example.test"
    assert config.mail_server.services[0].hostname == "imap.example.test"
    found = problems(
        {"bootstrap": BOOT, "mailServer": {"mailExchangers": [{"hostname": "a\u2603.test"}]}},
        registry,
    )
    assert len(found) == 1
    assert "mailServer.mailExchangers[0].hostname" in found[0]


@pytest.mark.parametrize(
    "uri",
    ["mailto:postmaster", "mailto:dmarc-reports@example.test", "https://reports.example.test/tls"],
)
def test_report_address_may_be_a_mailto_address_or_an_https_uri(
    registry: Registry, uri: str
) -> None:
    config = load_config(
        {"bootstrap": BOOT, "domain": {"example.org": {"reportAddressUri": uri}}},
        registry=registry,
    )
    assert config.domain["example.org"].report_address_uri == uri


@pytest.mark.parametrize(
    "uri",
    [
        "mailto:dmarc@example.test; p=none",
        "mailto:a,b@example.test",
        "mailto:@example.test",
        "mailto:x@\u2603.test",
        "http://reports.example.test/",
        "https://reports.example.test/a b",
        "ftp://reports.example.test/",
        "dmarc@example.test",
    ],
)
def test_report_address_that_is_not_a_safe_uri_is_refused(registry: Registry, uri: str) -> None:
    found = problems(
        {"bootstrap": BOOT, "domain": {"example.org": {"reportAddressUri": uri}}}, registry
    )
    assert len(found) == 1
    assert found[0].startswith('f.toml: domain."example.org".reportAddressUri: '), found


def test_report_address_keeps_its_domain_canonical(registry: Registry) -> None:
    config = load_config(
        {"bootstrap": BOOT, "domain": {"example.org": {"reportAddressUri": "mailto:d@EX.Test."}}},
        registry=registry,
    )
    assert config.domain["example.org"].report_address_uri == "mailto:d@ex.test"


@pytest.mark.parametrize("uri", ["https://acme.example.test/acct/1;x", "mailto:a@example.test"])
def test_acme_account_uri_must_be_an_https_uri(registry: Registry, uri: str) -> None:
    found = problems({"bootstrap": BOOT, "mailServer": {"acme": {"accountUri": uri}}}, registry)
    assert len(found) == 1
    assert found[0].startswith("f.toml: mailServer.acme.accountUri: "), found
    config = load_config(
        {"bootstrap": BOOT, "mailServer": {"acme": {"accountUri": "https://acme.test/acct/7"}}},
        registry=registry,
    )
    assert config.mail_server.acme.account_uri == "https://acme.test/acct/7"


def test_the_zone_origin_of_a_domain_is_canonical(registry: Registry) -> None:
    dns = {"@type": "Automatic", "dnsServerId": "bootstrap", "origin": "Example.ORG."}
    config = load_config(
        {"bootstrap": BOOT, "domain": {"mail.example.org": {"dnsManagement": dns}}},
        registry=registry,
    )
    assert config.domain["mail.example.org"].dns_management.origin == "example.org"  # type: ignore[union-attr]
