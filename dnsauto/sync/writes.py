"""The sync's busiest writes to the state store, one at a time within the process.

A domain's sync writes three times: its batch journaled before the provider call, the batch
marked after, its result. Each is made from the event loop when it need not wait (the
store's ``*_at_once`` methods: SQLite, its write lock free), else in a worker thread, which
waits. Without turns, the writes of the domains in flight met at SQLite's write lock: while
one waited in a worker (a durable commit, say), the others' found the lock held, went to
workers too and waited there in SQLite's busy handler, which sleeps 1 to 25 ms at a time.
Taking turns here, each write waits on the event loop instead and then finds the lock free.
PostgreSQL's writers do not exclude each other: there the writes run side by side, as before.

The results come last and need no order among themselves: those that come in while an
earlier one waits for its turn are saved together, in one transaction (:class:`Batches`).
At an unchanged re-sync a domain's result was its only write, and its commit a fifth of the
domain's time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batches", "WriteTurns"]

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


class Batches(Generic[T]):
    """Items saved together: those :meth:`save` is given while an earlier batch waits for its
    turn or is being written go in the next one, written in one transaction when its turn
    comes (``at_once(items)``, or ``waiting(items)`` in a worker thread when that gave False).
    Each :meth:`save` returns once its batch is written, or raises what writing it raised."""

    def __init__(
        self,
        turns: WriteTurns,
        at_once: Callable[[Sequence[T]], bool],
        waiting: Callable[[Sequence[T]], object],
    ) -> None:
        self._turns = turns
        self._at_once = at_once
        self._waiting = waiting
        self._next: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def save(self, item: T) -> None:
        saved = asyncio.get_running_loop().create_future()
        self._next.append((item, saved))
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write_next())
        await saved

    async def _write_next(self) -> None:
        batch: list[tuple[T, asyncio.Future[None]]] = []
        try:
            await self._turns.done(lambda: self._take(batch), lambda: self._waiting(_items(batch)))
        except BaseException as exc:
            for _, saved in batch or self._taken_now():
                if not saved.done():
                    saved.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for _, saved in batch:
            if not saved.done():
                saved.set_result(None)

    def _take(self, batch: list[tuple[T, asyncio.Future[None]]]) -> bool:
        """The turn has come: the batch is what came in until now (later items start the
        next); written here at once when that can be."""
        batch.extend(self._taken_now())
        return self._at_once(_items(batch))

    def _taken_now(self) -> list[tuple[T, asyncio.Future[None]]]:
        taken, self._next, self._writer = self._next, [], None
        return taken


def _items(batch: Sequence[tuple[T, asyncio.Future[None]]]) -> list[T]:
    return [item for item, _ in batch]
