"""Rate limits: what a provider's API allows, and buckets shared by several processes or by
every run of one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ProcessRateLimits", "RateLimit", "SharedRateLimits", "take_token"]


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


def take_token(
    limit: RateLimit, tokens: float, counted: float, now: float
) -> tuple[float, float, float]:
    """One token taken from a bucket of ``limit`` that held ``tokens`` at ``counted``: the
    tokens left (below zero: reservations), the time they are counted at (never before
    ``counted``: a clock behind refills nothing), and the seconds until the token is due."""
    now = max(now, counted)
    left = min(float(limit.requests), tokens + (now - counted) * limit.per_second) - 1
    return left, now, 0.0 if left >= 0 else -left / limit.per_second


class ProcessRateLimits:
    """:class:`SharedRateLimits` kept in this process: the buckets of every provider a
    single-node daemon makes. It makes an engine, hence the providers and their HTTP clients,
    per run, and 8 one-domain runs at once each with buckets of its own sent 8 times a
    DnsServer's limit. Drawn from on the event loop only.

    The same reservations as the cluster's buckets in the state store
    (:class:`dnsauto.state.ratelimits.StoreRateLimits`): a taker finding the bucket empty
    takes the next token due, and later ones queue behind it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, RateLimit], tuple[float, float]] = {}
        """(key, limit) -> (tokens, when counted); tokens below zero are reservations."""

    async def reserve(self, key: str, limit: RateLimit) -> float:
        return self.take(key, limit)

    def take(self, key: str, limit: RateLimit) -> float:
        """Take (or reserve) a token of bucket ``key``; the seconds until it is due."""
        now = self._clock()
        tokens, counted = self._buckets.get((key, limit), (float(limit.requests), now))
        left, counted, due = take_token(limit, tokens, counted, now)
        self._buckets[(key, limit)] = (left, counted)
        return due
