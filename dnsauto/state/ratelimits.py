"""A provider's rate limit kept in the state store, so the nodes of a cluster keep it together.

Each bucket (a provider's DnsServer, or one key of it such as a domain's writes) is a row
``(key, tokens, updated_at)``. Taking a token is one transaction: the row locked (``SELECT
... FOR UPDATE`` on PostgreSQL; SQLite's write lock), refilled at the limit's rate for the
time since ``updated_at`` (up to the limit's burst, ``requests``), and one token taken. When
none is left the token is *reserved*: ``tokens`` goes below zero and the taker waits until its
token is due, ``-tokens / rate`` seconds; the next taker queues behind it. So however many
nodes take tokens, the requests they send in any time ``T`` are at most ``requests + rate * T``
(each sends no earlier than its token is due), with no retry loop and one round trip a
request. The time is each node's clock (the leases assume clocks in step already); a clock
behind the bucket's refills nothing until it catches up, never more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import sqlalchemy as sa

from dnsauto.plugin.ratelimits import RateLimit, take_token
from dnsauto.state.store import StateStore, dialect_insert, rate_buckets_table

__all__ = ["StoreRateLimits"]


class StoreRateLimits:
    """:class:`dnsauto.plugin.context.SharedRateLimits` in ``store`` (one transaction a token,
    in a worker thread: a node waiting on another's row lock does not hold up its loop)."""

    def __init__(self, store: StateStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def reserve(self, key: str, limit: RateLimit) -> float:
        return await asyncio.to_thread(self.take, key, limit)

    def take(self, key: str, limit: RateLimit) -> float:
        """Take (or reserve) a token of bucket ``key``; the seconds until it is due."""
        bucket = f"{key}@{limit.requests}/{limit.seconds:g}s"
        table = rate_buckets_table
        with self.store.write_transaction() as conn:
            insert = dialect_insert(conn.dialect.name)
            now = self.clock()
            conn.execute(
                insert(table)
                .values(key=bucket, tokens=float(limit.requests), updated_at=now)
                .on_conflict_do_nothing()
            )
            tokens, updated = conn.execute(
                sa.select(table.c.tokens, table.c.updated_at)
                .where(table.c.key == bucket)
                .with_for_update()
            ).one()
            left, counted, due = take_token(limit, tokens, updated, self.clock())
            conn.execute(
                table.update().where(table.c.key == bucket).values(tokens=left, updated_at=counted)
            )
        return due
