"""dnsauto's own settings: ``[daemon]`` and ``[daemon.dns]``."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from dnsauto.config.types import Duration, Model, OptionalDuration

__all__ = ["Daemon", "DnsSettings", "HostPort", "MetricsSettings", "parse_host_port"]


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


def _check_listen(value: str) -> str:
    if parse_host_port(value, default_port=0)[1] == 0:
        raise ValueError(f"{value!r} has no port: write host:port, e.g. 127.0.0.1:9153")
    return value


ListenAddress = Annotated[str, AfterValidator(_check_listen)]


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


class MetricsSettings(Model):
    """Prometheus metrics over HTTP (``GET /metrics``)."""

    listen: Annotated[
        ListenAddress | None,
        Field(description="host:port to serve /metrics on; unset: no metrics endpoint"),
    ] = None


class Daemon(Model):
    """The service's own settings."""

    state_dir: Annotated[
        str, Field(min_length=1, description="DKIM keys, journal and status live here")
    ] = "/var/lib/dnsauto"
    sync_interval: Annotated[
        Duration, Field(description="How often `dnsauto run` reconciles every domain")
    ] = timedelta(hours=1)
    sync_jitter: Annotated[
        OptionalDuration,
        Field(
            description="Random delay added to each periodic reconcile; unset: a tenth of "
            "syncInterval"
        ),
    ] = None
    trigger_delay: Annotated[
        Duration,
        Field(description="Triggers for a domain within this time make one run"),
    ] = timedelta(seconds=1)
    max_concurrent_domains: Annotated[
        int, Field(ge=1, le=1000, description="Domains synced at the same time")
    ] = 8
    retry_initial_delay: Annotated[
        Duration, Field(description="Wait before retrying a failed domain; doubles each time")
    ] = timedelta(seconds=30)
    retry_max_delay: Annotated[
        Duration, Field(description="The longest wait between retries of a failed domain")
    ] = timedelta(minutes=30)
    dkim_check_interval: Annotated[
        Duration, Field(description="How often DKIM keys are checked for rotation")
    ] = timedelta(hours=1)
    shutdown_timeout: Annotated[
        Duration,
        Field(description="On SIGTERM, how long runs in flight may take before they are cut"),
    ] = timedelta(seconds=30)
    dns: DnsSettings = DnsSettings()
    metrics: MetricsSettings = MetricsSettings()

    @field_validator("sync_interval", "dkim_check_interval")
    @classmethod
    def _at_least_a_second(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    @property
    def jitter(self) -> timedelta:
        """The periodic reconcile's jitter: ``syncJitter``, or a tenth of ``syncInterval``."""
        return self.sync_jitter if self.sync_jitter is not None else self.sync_interval / 10
