"""What a provider's API calls did (requests, retries, throttles), for the metrics.

A provider's :class:`~dnsauto.plugin.context.ProviderContext` holds one :class:`HttpCounters`;
every HTTP client the provider makes counts into it (:meth:`HttpClient.for_server
<dnsauto.plugin.http.HttpClient.for_server>` passes it on, a client made otherwise is given
``counters=context.counters``), and so does a provider that calls its API through an SDK
(Route53's boto3). The daemon attaches a :data:`CounterSink` to it before the provider is
made, so the counts reach its Prometheus metrics without the plugin knowing about them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["COUNTED", "Counted", "CounterSink", "HttpCounters"]

Counted = Literal["requests", "retries", "throttled", "rate_limited", "waited_seconds"]
COUNTED: tuple[Counted, ...] = (
    "requests",
    "retries",
    "throttled",
    "rate_limited",
    "waited_seconds",
)

CounterSink = Callable[[Counted, float], None]
"""Told of every count as it is made: what was counted and by how much."""


@dataclass
class HttpCounters:
    """What one provider's API calls did, for the metrics."""

    requests: int = 0
    """Requests sent, retries included."""
    retries: int = 0
    """Requests sent again after a transient failure."""
    throttled: int = 0
    """Answers saying "too many requests" (429, or the API's own throttle status)."""
    rate_limited: int = 0
    """Requests held back by the client-side rate limit."""
    waited_seconds: float = 0.0
    """Seconds spent in backoff and rate-limit waits."""
    sink: CounterSink | None = field(default=None, repr=False, compare=False)
    """Where each count is reported as well (the daemon's metrics), if anywhere."""

    def add(self, what: Counted, amount: float = 1) -> None:
        """Count ``amount`` more of ``what``, and tell the sink."""
        setattr(self, what, getattr(self, what) + amount)
        if self.sink is not None:
            self.sink(what, amount)
