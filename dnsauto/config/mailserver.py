"""What dnsauto needs to know about the mail server beyond the Bootstrap.

Stalwart keeps these in its ``SystemSettings`` (mail exchangers, services), its MTA-STS policy,
its ACME provider and its certificates; dnsauto reads them from ``[mailServer]``.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from dnsauto.plugin.names import HostName, HttpsUri
from dnsauto.plugin.types import Duration, Model

__all__ = ["Acme", "MailExchanger", "MailServer", "MtaStsMode", "Service", "ServiceProtocol"]


class MailExchanger(Model):
    """One MX host of the domains; ``hostname`` defaults to the Bootstrap's ``serverHostname``."""

    priority: Annotated[int, Field(ge=0, le=65535)] = 10
    hostname: HostName | None = None


class ServiceProtocol(StrEnum):
    CALDAV = "caldav"
    CARDDAV = "carddav"
    IMAP = "imap"
    JMAP = "jmap"
    MANAGESIEVE = "managesieve"
    POP3 = "pop3"
    SMTP = "smtp"
    WEBDAV = "webdav"


class Service(Model):
    """A client-facing service; SRV records are published for it (fixed ports, as Stalwart)."""

    protocol: ServiceProtocol
    hostname: HostName | None = None
    cleartext: bool = False


DEFAULT_SERVICES: tuple[Service, ...] = tuple(Service(protocol=p) for p in ServiceProtocol)


class MtaStsMode(StrEnum):
    """RFC 8461 policy modes, in the order of the variants of Stalwart's ``Mode`` enum."""

    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"


class Acme(Model):
    """The ACME CA that issues the server's certificates; it is what CAA records allow."""

    directory: str = "https://acme-v02.api.letsencrypt.org/directory"
    account_uri: Annotated[
        HttpsUri | None, Field(description="RFC 8657 accounturi bound into the CAA issue record")
    ] = None


class MailServer(Model):
    """The mail server's facts that decide the records (Stalwart's SystemSettings and more)."""

    mail_exchangers: tuple[MailExchanger, ...] = (MailExchanger(),)
    services: tuple[Service, ...] = DEFAULT_SERVICES
    mta_sts_policy_id: Annotated[
        str | None,
        Field(
            pattern=r"^[A-Za-z0-9]{1,32}$",
            description="The MTA-STS policy id; unset: Stalwart's hash of the policy",
        ),
    ] = None
    mta_sts_mode: Annotated[
        MtaStsMode, Field(description="The MTA-STS policy's mode (RFC 8461)")
    ] = MtaStsMode.TESTING
    mta_sts_max_age: Annotated[
        Duration, Field(description="The MTA-STS policy's max_age (whole seconds count)")
    ] = timedelta(days=7)
    mta_sts_mx: Annotated[
        tuple[str, ...] | None,
        Field(
            description="The MTA-STS policy's mx patterns (`*.example.com` allowed); unset: the "
            "mail exchangers' hosts; empty: no MTA-STS policy, so no MTA-STS records"
        ),
    ] = None
    acme: Acme = Acme()
    tlsa_certificates: Annotated[
        tuple[str, ...],
        Field(description="PEM certificate chains whose TLSA records are published (opt-in)"),
    ] = ()
