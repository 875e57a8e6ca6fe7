"""Rate limits: what a provider's API allows, and buckets shared by several processes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["RateLimit", "SharedRateLimits"]


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per ``seconds``, e.g. Cloudflare's 1,200 per 300 s."""

    requests: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


class SharedRateLimits(Protocol):
    """Token buckets that every process sharing them draws from (the nodes of a cluster,
    through their state store), so that together they keep a provider's limit."""

    async def reserve(self, key: str, limit: RateLimit) -> float:
        """Take a token of the bucket ``key`` of ``limit``, now or, when it is empty, the next
        one due (a reservation: later takers queue behind it); the seconds until it is due,
        which the caller waits before its request."""
        ...
