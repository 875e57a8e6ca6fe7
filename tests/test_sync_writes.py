"""An engine's writes to the state store take turns: one waiting in a worker thread holds
the others on the event loop, which then make theirs at once instead of meeting it at
SQLite's lock."""

from __future__ import annotations

import asyncio
import threading

from dnsauto.sync.writes import WriteTurns


async def test_a_write_waits_its_turn_on_the_event_loop_while_another_waits_in_a_worker() -> None:
    turns = WriteTurns()
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def first_waiting() -> str:
        calls.append("first in a worker")
        entered.set()
        release.wait(30)
        return "first"

    def second_at_once() -> str:
        calls.append("second at once")
        return "second"

    def never() -> str:
        raise AssertionError("the second write found its turn free: it needs no worker")

    first = asyncio.create_task(turns.value(lambda: None, first_waiting))
    assert await asyncio.to_thread(entered.wait, 30)
    second = asyncio.create_task(turns.value(second_at_once, never))
    await asyncio.sleep(0)
    assert calls == ["first in a worker"]  # the second waits, without trying the lock
    release.set()
    assert await first == "first"
    assert await second == "second"
    assert calls == ["first in a worker", "second at once"]


async def test_a_write_refused_at_once_is_made_in_a_worker_thread() -> None:
    turns = WriteTurns()
    threads: list[int] = []
    await turns.done(lambda: False, lambda: threads.append(threading.get_ident()))
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()


async def test_a_write_made_at_once_needs_no_worker() -> None:
    turns = WriteTurns()

    def never() -> None:
        raise AssertionError("made at once")

    await turns.done(lambda: True, never)


async def test_writes_to_a_store_whose_writers_do_not_exclude_each_other_run_side_by_side() -> None:
    """PostgreSQL: two writes in workers at once, each waiting for the other to have begun."""
    turns = WriteTurns(one_at_a_time=False)
    first_in, second_in = threading.Event(), threading.Event()

    def first() -> bool:
        first_in.set()
        return second_in.wait(30)

    def second() -> bool:
        second_in.set()
        return first_in.wait(30)

    both = await asyncio.gather(turns.value(lambda: None, first), turns.value(lambda: None, second))
    assert both == [True, True]
