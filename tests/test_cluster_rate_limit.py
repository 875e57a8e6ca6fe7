"""A provider's rate limit kept by the nodes together: the token buckets in the state store
(:mod:`dnsauto.state.ratelimits`), drawn from by :class:`dnsauto.plugin.http.HttpClient`."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsauto.plugin.ratelimits import RateLimit
from dnsauto.state.ratelimits import StoreRateLimits
from dnsauto.testing.servers.postgres import PostgresServer
from tests.cluster_helpers import send_from_nodes
from tests.store_backends import StoreBackend

LIMIT = RateLimit(10, 1.0)
PER_NODE = 30


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_shared_bucket_gives_its_burst_then_reserves_tokens_at_the_limit_s_rate(
    store_backend: StoreBackend,
) -> None:
    clock = Clock()
    with store_backend.open() as store:
        limits = StoreRateLimits(store, clock=clock)
        burst = [limits.take("Fake/a", LIMIT) for _ in range(LIMIT.requests)]
        queued = [limits.take("Fake/a", LIMIT) for _ in range(3)]
        other = limits.take("Fake/b", LIMIT)
        clock.now += 1.0
        # a second refilled ten tokens, three of which the queued requests took ahead
        refilled = [limits.take("Fake/a", LIMIT) for _ in range(8)]

    assert burst == [0.0] * LIMIT.requests
    assert queued == pytest.approx([0.1, 0.2, 0.3])
    assert other == 0.0
    assert refilled == pytest.approx([0.0] * 7 + [0.1])


async def test_two_nodes_on_one_store_send_no_more_than_the_provider_s_limit_in_total(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Each node alone would send its requests at the full limit: together they would send
    twice as many as allowed. In any time ``T`` from the start, at most ``requests + rate * T``
    may arrive: so the last of them comes no sooner than that allows."""
    database = postgres_server.create_database()
    nodes = [
        StoreBackend("postgresql", tmp_path / f"node{i}", postgres_server, database)
        for i in range(2)
    ]
    sent = await send_from_nodes(nodes, LIMIT, PER_NODE)

    assert sent.exit_codes == [0, 0]
    total = len(nodes) * PER_NODE
    assert len(sent.arrivals) == total
    allowed_after = (total - LIMIT.requests) / LIMIT.per_second
    assert max(sent.arrivals) - sent.started >= allowed_after
