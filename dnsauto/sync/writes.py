"""The sync's busiest writes to the state store, one at a time within the process.

A domain's sync writes three times: its batch journaled before the provider call, the batch
marked after, its result. Each is made from the event loop when it need not wait (the
store's ``*_at_once`` methods: SQLite, its write lock free), else in a worker thread, which
waits. Without turns, the writes of the domains in flight met at SQLite's write lock: while
one waited in a worker (a durable commit, say), the others' found the lock held, went to
workers too and waited there in SQLite's busy handler, which sleeps 1 to 25 ms at a time.
Taking turns here, each write waits on the event loop instead and then finds the lock free.
PostgreSQL's writers do not exclude each other: there the writes run side by side, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

__all__ = ["WriteTurns"]

T = TypeVar("T")


class WriteTurns:
    """One of an engine's writes to its state store at a time (see the module docstring);
    with ``one_at_a_time`` False (a PostgreSQL store) as many as are made."""

    def __init__(self, *, one_at_a_time: bool = True) -> None:
        self._turn: contextlib.AbstractAsyncContextManager[object] = (
            asyncio.Lock() if one_at_a_time else contextlib.nullcontext()
        )

    async def value(self, at_once: Callable[[], T | None], waiting: Callable[[], T]) -> T:
        """``at_once()``, or ``waiting()`` in a worker thread when that gave None."""
        async with self._turn:
            done = at_once()
            if done is not None:
                return done
            return await asyncio.to_thread(waiting)

    async def done(self, at_once: Callable[[], bool], waiting: Callable[[], object]) -> None:
        """``at_once()``, or ``waiting()`` in a worker thread when that gave False."""
        async with self._turn:
            if not at_once():
                await asyncio.to_thread(waiting)
