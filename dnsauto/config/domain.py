"""The Domain object: how a mail domain's DNS records and DKIM keys are managed."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator

from dnsauto.plugin.names import HostName, ReportUri
from dnsauto.plugin.types import Duration, Model, StalwartSet, Tagged

__all__ = [
    "BOOTSTRAP_PUBLISH_RECORDS",
    "DEFAULT_PUBLISH_RECORDS",
    "DEFAULT_SELECTOR_TEMPLATE",
    "ZONE_FILE_RECORDS",
    "AutomaticCertificate",
    "AutomaticDkim",
    "AutomaticDns",
    "CertificateManagement",
    "DkimAlgorithm",
    "DkimManagement",
    "DnsManagement",
    "DnsRecordType",
    "Domain",
    "ManualCertificate",
    "ManualDkim",
    "ManualDns",
    "SubAddressing",
]


class DnsRecordType(StrEnum):
    """Stalwart's ``DnsRecordType``: the families of records a domain can publish."""

    DKIM = "dkim"
    TLSA = "tlsa"
    SPF = "spf"
    MX = "mx"
    DMARC = "dmarc"
    SRV = "srv"
    MTA_STS = "mtaSts"
    TLS_RPT = "tlsRpt"
    CAA = "caa"
    AUTO_CONFIG = "autoConfig"
    AUTO_CONFIG_LEGACY = "autoConfigLegacy"
    AUTO_DISCOVER = "autoDiscover"


R = DnsRecordType
DEFAULT_PUBLISH_RECORDS: tuple[DnsRecordType, ...] = (
    R.DKIM, R.SPF, R.MX, R.DMARC, R.SRV, R.MTA_STS, R.TLS_RPT, R.CAA,
    R.AUTO_CONFIG, R.AUTO_CONFIG_LEGACY, R.AUTO_DISCOVER,
)  # fmt: skip
"""``DnsManagementProperties.publishRecords`` default: everything but TLSA, which is opt-in."""

BOOTSTRAP_PUBLISH_RECORDS: tuple[DnsRecordType, ...] = (
    R.DKIM, R.SPF, R.DMARC, R.SRV, R.MTA_STS, R.TLS_RPT,
    R.AUTO_CONFIG, R.AUTO_CONFIG_LEGACY, R.AUTO_DISCOVER,
)  # fmt: skip
"""What Stalwart's Bootstrap publishes for the default domain: no MX and no CAA."""

ZONE_FILE_RECORDS: tuple[DnsRecordType, ...] = tuple(DnsRecordType)
"""Every family, in Stalwart's order: its ``dnsZoneFile``, what a Manual domain is given."""


class DkimAlgorithm(StrEnum):
    """Stalwart's ``DkimSignatureType``."""

    DKIM1_ED25519_SHA256 = "Dkim1Ed25519Sha256"
    DKIM1_RSA_SHA256 = "Dkim1RsaSha256"
    DKIM2_ED25519_SHA256 = "Dkim2Ed25519Sha256"
    DKIM2_RSA_SHA256 = "Dkim2RsaSha256"


DEFAULT_SELECTOR_TEMPLATE = "v{version}-{algorithm}-{date-%Y%m%d}"


class ManualDns(Tagged):
    """The records are entered by hand; dnsauto prints them and checks them."""

    type: Literal["Manual"] = Field(alias="@type")


class AutomaticDns(Tagged):
    """dnsauto publishes the records through a DnsServer."""

    type: Literal["Automatic"] = Field(alias="@type")
    dns_server_id: Annotated[str, Field(min_length=1, description="The DnsServer to publish with")]
    origin: Annotated[
        HostName | None,
        Field(description="The zone that holds the domain's records (found by SOA when unset)"),
    ] = None
    publish_records: Annotated[
        tuple[DnsRecordType, ...],
        StalwartSet(),
        Field(description="Which record families to publish"),
    ] = DEFAULT_PUBLISH_RECORDS

    @field_validator("publish_records")
    @classmethod
    def _no_repeats(cls, value: tuple[DnsRecordType, ...]) -> tuple[DnsRecordType, ...]:
        return tuple(dict.fromkeys(value))


DnsManagement = Annotated[ManualDns | AutomaticDns, Field(discriminator="type")]


class AutomaticDkim(Tagged):
    """dnsauto generates, publishes and rotates the domain's DKIM keys."""

    type: Literal["Automatic"] = Field(alias="@type")
    algorithms: Annotated[tuple[DkimAlgorithm, ...], StalwartSet()] = (
        DkimAlgorithm.DKIM1_ED25519_SHA256,
        DkimAlgorithm.DKIM1_RSA_SHA256,
    )
    selector_template: Annotated[str, Field(min_length=1)] = DEFAULT_SELECTOR_TEMPLATE
    rotate_after: Duration = timedelta(days=90)
    retire_after: Duration = timedelta(days=7)
    delete_after: Duration = timedelta(days=30)

    @field_validator("selector_template")
    @classmethod
    def _template_is_valid(cls, value: str) -> str:
        from dnsauto.config.selector import check_selector_template

        check_selector_template(value)
        return value


class ManualDkim(Tagged):
    """DKIM keys are managed outside dnsauto; no DKIM records are published."""

    type: Literal["Manual"] = Field(alias="@type")


DkimManagement = Annotated[AutomaticDkim | ManualDkim, Field(discriminator="type")]


class ManualCertificate(Tagged):
    """The domain's TLS certificate is obtained outside Stalwart's ACME: no CAA records."""

    type: Literal["Manual"] = Field(alias="@type")


class AutomaticCertificate(Tagged):
    """The certificate is obtained with ACME (by Stalwart, or by dnsauto with ``[acme]
    obtainCertificates``); CAA records allow ``mailServer.acme``'s CA."""

    type: Literal["Automatic"] = Field(alias="@type")
    acme_provider_id: Annotated[
        str | None,
        Field(description="The AcmeProvider that issues it (CAA still uses mailServer.acme)"),
    ] = None
    subject_alternative_names: Annotated[
        tuple[str, ...],
        StalwartSet(),
        Field(description="The certificate's extra names; none: CAA persist allows wildcards"),
    ] = ()


CertificateManagement = Annotated[
    ManualCertificate | AutomaticCertificate, Field(discriminator="type")
]


class ExpressionMatch(Model):
    """One ``if``/``then`` branch of a Stalwart expression."""

    if_: Annotated[str, Field(alias="if")]
    then: str


class Expression(Model):
    """Stalwart's ``Expression``: the first matching branch's ``then``, else ``else``."""

    match: tuple[ExpressionMatch, ...] = ()
    else_: Annotated[str, Field(alias="else")] = ""


class SubAddressingEnabled(Tagged):
    type: Literal["Enabled"] = Field(alias="@type")


class SubAddressingDisabled(Tagged):
    type: Literal["Disabled"] = Field(alias="@type")


class SubAddressingCustom(Tagged):
    type: Literal["Custom"] = Field(alias="@type")
    custom_rule: Expression = Expression()


SubAddressing = Annotated[
    SubAddressingEnabled | SubAddressingCustom | SubAddressingDisabled,
    Field(discriminator="type"),
]


class Domain(Model):
    """A mail domain whose records dnsauto keeps published.

    Besides the DNS, DKIM and certificate settings it keeps Stalwart's other Domain properties,
    so Stalwart's JSON is accepted and returned as it is. dnsauto acts on ``isEnabled`` (a
    disabled domain is not published), ``aliases`` (each alias is published with the domain's
    settings) and ``certificateManagement`` (CAA); the others are kept and shown only.
    """

    name: Annotated[
        HostName | None, Field(description="The domain name; the table's key when unset")
    ] = None
    aliases: Annotated[
        tuple[HostName, ...],
        StalwartSet(),
        Field(description="Other names of the domain; each is published like the domain"),
    ] = ()
    is_enabled: Annotated[
        bool, Field(description="Whether the domain is in use; a disabled one is not published")
    ] = True
    created_at: Annotated[str | None, Field(description="Stalwart's creation time; kept")] = None
    description: Annotated[str | None, Field(description="Short description; kept")] = None
    logo: Annotated[str | None, Field(description="Logo URL; kept")] = None
    dns_management: DnsManagement = ManualDns.model_validate({"@type": "Manual"})
    dkim_management: DkimManagement = AutomaticDkim.model_validate({"@type": "Automatic"})
    certificate_management: CertificateManagement = ManualCertificate.model_validate(
        {"@type": "Manual"}
    )
    member_tenant_id: Annotated[str | None, Field(description="Stalwart's Tenant id; kept")] = None
    directory_id: Annotated[str | None, Field(description="Stalwart's Directory id; kept")] = None
    catch_all_address: Annotated[
        str | None, Field(description="Where mail to unknown addresses goes; kept")
    ] = None
    sub_addressing: Annotated[
        SubAddressing, Field(description="Stalwart's sub-addressing (user+tag); kept")
    ] = SubAddressingEnabled.model_validate({"@type": "Enabled"})
    allow_relaying: Annotated[
        bool, Field(description="Whether Stalwart relays for this domain; kept")
    ] = False
    report_address_uri: Annotated[
        ReportUri | None,
        Field(description="Where DMARC and TLS reports go; no DMARC/TLS-RPT record when unset"),
    ] = "mailto:postmaster"

    @field_validator("aliases")
    @classmethod
    def _no_repeated_aliases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))
