"""What the core hands a provider besides its settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from dnsauto.plugin.counters import HttpCounters
from dnsauto.plugin.ratelimits import SharedRateLimits

__all__ = ["BOOTSTRAP_SERVER_ID", "ProviderContext"]

BOOTSTRAP_SERVER_ID = "bootstrap"
"""The DnsServer id of the Bootstrap's own DNS server (``bootstrap.dnsServer`` in the file)."""


@dataclass
class ProviderContext:
    """What the core hands a provider besides its settings."""

    server_id: str
    """The DnsServer id in the configuration (``bootstrap`` for the Bootstrap's own)."""
    instructions: list[str] = field(default_factory=list)
    """Text for a person, collected by providers that cannot act themselves."""
    counters: HttpCounters = field(default_factory=HttpCounters)
    """What the provider's API calls did; every HTTP client it makes counts here, and the
    daemon gives it a sink feeding the metrics (``dnsauto_provider_http_*``)."""
    rate_limits: SharedRateLimits | None = None
    """The buckets this provider's rate limits are kept in (:class:`dnsauto.plugin.http.HttpClient`
    takes its tokens there instead of from its own): a cluster's, shared by its nodes, or a
    single-node daemon's, shared by its runs."""

    def config_path(self, field: str) -> str:
        """Where ``field`` of this provider's settings sits in the configuration, for errors."""
        if self.server_id == BOOTSTRAP_SERVER_ID:
            return f"bootstrap.dnsServer.{field}"
        return f"dnsServer.{self.server_id}.{field}"
