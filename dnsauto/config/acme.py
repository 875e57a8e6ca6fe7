"""Stalwart's ``AcmeProvider`` object and dnsauto's own ``[acme]`` settings.

An ``[acmeProvider.<id>]`` table is an AcmeProvider as Stalwart's registry holds it (directory,
contact, challengeType, renewBefore, maxRetries, preferredChain, reuseKey, and the External
Account Binding that Stalwart takes only when the object is created: ``eabKeyId`` and
``eabHmacKey``). With ``requestTlsCertificate`` and a Bootstrap DnsServer, the Bootstrap implies
the provider ``bootstrap`` as Stalwart's Bootstrap ``set`` creates it: Let's Encrypt (the
``mailServer.acme.directory``), contact ``postmaster@{defaultDomain}``, ``Dns01``.

``[acme]`` says whether dnsauto itself obtains the certificates (``obtainCertificates``, off by
default: Stalwart obtains its own, and two ACME clients for one name only double the orders),
where the files go, who may read them and what runs after each renewal.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from dnsauto.plugin.types import Model, SecretTextOptional

__all__ = [
    "LETS_ENCRYPT",
    "LETS_ENCRYPT_STAGING",
    "AcmeChallengeType",
    "AcmeKeyType",
    "AcmeProvider",
    "AcmeRenewBefore",
    "AcmeSettings",
]

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


class AcmeChallengeType(StrEnum):
    """Stalwart's ``AcmeChallengeType``; dnsauto answers ``Dns01`` only."""

    TLS_ALPN01 = "TlsAlpn01"
    DNS_PERSIST01 = "DnsPersist01"
    DNS01 = "Dns01"
    HTTP01 = "Http01"


class AcmeRenewBefore(StrEnum):
    """Stalwart's ``AcmeRenewBefore``: renew at this fraction of the certificate's lifetime."""

    R12 = "R12"
    R23 = "R23"
    R34 = "R34"
    R45 = "R45"

    @property
    def fraction(self) -> tuple[int, int]:
        return {"R12": (1, 2), "R23": (2, 3), "R34": (3, 4), "R45": (4, 5)}[self.value]


class AcmeKeyType(StrEnum):
    """The certificate key dnsauto makes (the ACME account key is always ECDSA P-256)."""

    ECDSA_P256 = "EcdsaP256"
    ECDSA_P384 = "EcdsaP384"
    RSA2048 = "Rsa2048"
    RSA4096 = "Rsa4096"


class AcmeProvider(Model):
    """An ACME CA account (Stalwart's ``x:AcmeProvider``)."""

    directory: Annotated[
        str, Field(description="The CA's RFC 8555 directory URL (Let's Encrypt by default)")
    ] = LETS_ENCRYPT
    contact: Annotated[
        tuple[str, ...],
        Field(description="Contact addresses; none: postmaster@{defaultDomain}"),
    ] = ()
    challenge_type: Annotated[
        AcmeChallengeType, Field(description="dnsauto answers Dns01 only")
    ] = AcmeChallengeType.DNS01
    renew_before: Annotated[
        AcmeRenewBefore,
        Field(description="Renew at this share of the lifetime (R23: two thirds)"),
    ] = AcmeRenewBefore.R23
    max_retries: Annotated[
        int, Field(ge=0, le=100, description="Bad-nonce and polling retries within one order")
    ] = 10
    preferred_chain: Annotated[
        str | None, Field(description="The issuer common name of the chain to prefer")
    ] = None
    reuse_key: Annotated[
        bool, Field(description="Renew with the current key (no new key; TLSA unchanged)")
    ] = False
    eab_key_id: Annotated[
        str | None, Field(description="External Account Binding key id (RFC 8555 7.3.4)")
    ] = None
    eab_hmac_key: Annotated[
        SecretTextOptional | None,
        Field(description="External Account Binding MAC key, base64url"),
    ] = None
    account_uri: Annotated[
        str | None, Field(description="Kept from Stalwart; dnsauto registers its own account")
    ] = None

    @field_validator("directory")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value

    @field_validator("contact")
    @classmethod
    def _mailto(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for contact in value:
            address = contact.strip().removeprefix("mailto:")
            if "@" not in address or " " in address:
                raise ValueError(f"{contact!r} is not an email address")
            out.append(address)
        return tuple(out)

    def contacts(self, default_domain: str) -> tuple[str, ...]:
        """The contact as ``mailto:`` URIs; none configured: ``postmaster@{defaultDomain}``."""
        return tuple(f"mailto:{c}" for c in self.contact or (f"postmaster@{default_domain}",))


class AcmeSettings(Model):
    """``[acme]``: dnsauto as the ACME client of the mail server's certificates."""

    obtain_certificates: Annotated[
        bool,
        Field(
            description="dnsauto obtains and renews the certificates of every Domain whose "
            "certificateManagement is Automatic (off: Stalwart does it itself)"
        ),
    ] = False
    key_type: Annotated[AcmeKeyType, Field(description="The certificate key dnsauto makes")] = (
        AcmeKeyType.ECDSA_P256
    )
    group: Annotated[
        str | None,
        Field(description="Group given read access (0640) to privkey.pem, e.g. the MTA's"),
    ] = None
    deploy_hook: Annotated[
        str | None,
        Field(
            description="Command run (no shell) after a certificate is put in place, e.g. "
            "`systemctl reload postfix`; DNSAUTO_CERT_NAME and DNSAUTO_CERT_DIR are set"
        ),
    ] = None
    ca_bundle: Annotated[
        str | None,
        Field(description="PEM file of the CAs trusted for the ACME server's HTTPS"),
    ] = None
    request_timeout: Annotated[
        int, Field(ge=1, le=600, description="Seconds per HTTP request to the ACME server")
    ] = 30
