"""The ``Tsig`` and ``Sig0`` DnsServer variants: Stalwart's fields, defaults and bounds.

What cannot work is refused here, when the configuration is loaded, with the reason: ``gss``
(GSS-TSIG needs a Kerberos KDC and a TKEY exchange, which dnsauto does not implement), a TSIG
secret that is not base64, a key or signer name that is not a DNS name.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

import dns.exception
import dns.name
from pydantic import Field, IPvAnyAddress, field_validator

from dnsauto.plugin import DnsServerBase, SecretError, SecretKey, SecretText, SecretValue

__all__ = [
    "REFUSED_TSIG_ALGORITHMS",
    "Protocol",
    "Rfc2136DnsServer",
    "Sig0Algorithm",
    "Sig0DnsServer",
    "TsigAlgorithm",
    "TsigDnsServer",
    "decode_tsig_secret",
]

Protocol = Literal["udp", "tcp"]
TsigAlgorithm = Literal[
    "hmac-md5",
    "gss",
    "hmac-sha1",
    "hmac-sha224",
    "hmac-sha256",
    "hmac-sha256-128",
    "hmac-sha384",
    "hmac-sha384-192",
    "hmac-sha512",
    "hmac-sha512-256",
]
Sig0Algorithm = Literal["ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"]

REFUSED_TSIG_ALGORITHMS: dict[str, str] = {
    "gss": (
        "gss (GSS-TSIG, RFC 3645) needs a Kerberos KDC and a TKEY key exchange before every "
        "session, which dnsauto does not implement; configure an HMAC key instead "
        "(hmac-sha512 is the default and works with BIND, Knot and PowerDNS)"
    ),
}
"""``tsigAlgorithm`` values that are refused at load, with the reason."""

_WHITESPACE = re.compile(r"\s+")


def decode_tsig_secret(text: str) -> bytes:
    """The bytes of a base64 TSIG secret; whitespace is ignored. Raises ``ValueError``."""
    compact = _WHITESPACE.sub("", text)
    if not compact:
        raise ValueError("the TSIG secret is empty")
    try:
        secret = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "the TSIG secret is not valid base64 (as in the 'secret' line of a BIND or Knot key "
            "file, e.g. made by 'tsig-keygen')"
        ) from None
    return secret


def _check_dns_name(value: str, what: str) -> str:
    try:
        dns.name.from_text(value)
    except dns.exception.DNSException as exc:
        raise ValueError(f"{value!r} is not a valid {what}: {exc}") from None
    if not value.strip(". "):
        raise ValueError(f"the {what} cannot be the root name")
    return value


class Rfc2136DnsServer(DnsServerBase):
    """Where the server is and how to talk to it: what ``Tsig`` and ``Sig0`` share."""

    host: Annotated[IPvAnyAddress, Field(description="The IP address of the DNS server")]
    port: Annotated[
        int, Field(ge=1, le=65535, description="The port used to communicate with the DNS server")
    ] = 53
    protocol: Annotated[
        Protocol, Field(description="The protocol used to communicate with the DNS server")
    ] = "udp"


class TsigDnsServer(Rfc2136DnsServer):
    """RFC2136 TSIG DNS server."""

    type: Literal["Tsig"] = Field(alias="@type")
    key_name: Annotated[
        str, Field(min_length=1, description="The key used to authenticate with the DNS server")
    ]
    key: Annotated[
        SecretKey,
        Field(description="The secret or token used to authenticate with the DNS server"),
    ]
    tsig_algorithm: Annotated[
        TsigAlgorithm,
        Field(description="The TSIG algorithm used to authenticate with the DNS server"),
    ] = "hmac-sha512"

    @field_validator("key_name")
    @classmethod
    def _key_name_is_a_dns_name(cls, value: str) -> str:
        return _check_dns_name(value, "TSIG key name")

    @field_validator("key")
    @classmethod
    def _literal_key_is_base64(cls, value: SecretKey) -> SecretKey:
        # A key given inline is checked now; one from a variable or file when it is resolved.
        if isinstance(value, SecretValue):
            decode_tsig_secret(value.resolve())
        return value

    @field_validator("tsig_algorithm")
    @classmethod
    def _algorithm_can_interoperate(cls, value: str) -> str:
        reason = REFUSED_TSIG_ALGORITHMS.get(value)
        if reason:
            raise ValueError(reason)
        return value

    def secret_bytes(self) -> bytes:
        """The decoded TSIG secret. Raises :class:`~dnsauto.plugin.errors.SecretError`."""
        try:
            return decode_tsig_secret(self.key.resolve())
        except ValueError as exc:
            raise SecretError(f"key ({self.key.describe()}): {exc}") from None


class Sig0DnsServer(Rfc2136DnsServer):
    """RFC2136 SIG0 DNS server."""

    type: Literal["Sig0"] = Field(alias="@type")
    public_key: Annotated[
        str,
        Field(min_length=1, description="The public key used to authenticate with the DNS server"),
    ]
    key: Annotated[
        SecretText,
        Field(description="The secret or token used to authenticate with the DNS server"),
    ]
    signer_name: Annotated[
        str, Field(min_length=1, description="The signer name used in the SIG0 records")
    ]
    sig0_algorithm: Annotated[
        Sig0Algorithm,
        Field(description="The SIG0 algorithm used to authenticate with the DNS server"),
    ] = "ed25519"

    @field_validator("signer_name")
    @classmethod
    def _signer_name_is_a_dns_name(cls, value: str) -> str:
        return _check_dns_name(value, "SIG(0) signer name")
