"""dnsauto's own settings: ``[daemon]`` and ``[daemon.dns]``."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from dnsauto.config.types import Duration, Model

__all__ = ["Daemon", "DnsSettings", "HostPort", "parse_host_port"]


def parse_host_port(value: str, default_port: int = 53) -> tuple[str, int]:
    """Split ``"192.0.2.1:5353"``, ``"[2001:db8::1]:53"``, ``"192.0.2.1"`` or ``"::1"``."""
    text = value.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{value!r} is not host:port")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{value!r} does not start with an IP address") from None
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{value!r} has no valid port (1-65535)")
        port = int(port_text)
    return str(address), port


def _check_host_port(value: str) -> str:
    parse_host_port(value)
    return value


HostPort = Annotated[str, AfterValidator(_check_host_port)]


class DnsSettings(Model):
    """How dnsauto itself asks DNS questions."""

    resolvers: Annotated[
        tuple[HostPort, ...],
        Field(description="Recursive resolvers as host:port; empty for the system's"),
    ] = ()
    authoritative_port: Annotated[int, Field(ge=1, le=65535)] = 53
    authoritative_servers: Annotated[
        tuple[HostPort, ...],
        Field(
            description="Ask these (host:port) instead of the zone's NS set: split horizon, tests"
        ),
    ] = ()


class Daemon(Model):
    """The service's own settings."""

    state_dir: Annotated[
        str, Field(min_length=1, description="DKIM keys, journal and status live here")
    ] = "/var/lib/dnsauto"
    sync_interval: Duration = timedelta(hours=1)
    dns: DnsSettings = DnsSettings()
