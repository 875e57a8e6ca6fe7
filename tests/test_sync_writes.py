"""An engine's writes to the state store take turns: one waiting in a worker thread holds
the others on the event loop, which then make theirs at once instead of meeting it at
SQLite's lock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from dnsauto.plugin.errors import DnsautoError
from dnsauto.sync.writes import Batches, WriteTurns


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


async def test_items_saved_while_a_batch_waits_in_a_worker_are_written_together_next() -> None:
    turns = WriteTurns()
    entered, release = threading.Event(), threading.Event()
    written: list[list[str]] = []

    def first_waiting(items: Sequence[str]) -> None:
        written.append(list(items))
        entered.set()
        release.wait(30)

    def at_once(items: Sequence[str]) -> bool:
        if not written:
            return False  # the first batch waits in a worker
        written.append(list(items))
        return True

    batches = Batches(turns, at_once, first_waiting)
    first = asyncio.create_task(batches.save("a"))
    assert await asyncio.to_thread(entered.wait, 30)
    later = [asyncio.create_task(batches.save(item)) for item in ("b", "c", "d")]
    await asyncio.sleep(0)
    assert written == [["a"]]  # b, c and d wait for the turn
    release.set()
    await asyncio.gather(first, *later)
    assert written == [["a"], ["b", "c", "d"]]


async def test_items_saved_in_one_step_of_the_event_loop_are_one_batch() -> None:
    written: list[list[int]] = []

    def at_once(items: Sequence[int]) -> bool:
        written.append(list(items))
        return True

    batches: Batches[int] = Batches(WriteTurns(), at_once, lambda items: None)
    await asyncio.gather(*(batches.save(n) for n in range(5)))
    assert written == [[0, 1, 2, 3, 4]]


async def test_a_batch_refused_at_once_is_written_whole_in_a_worker_thread() -> None:
    threads: list[tuple[int, list[int]]] = []

    def waiting(items: Sequence[int]) -> None:
        threads.append((threading.get_ident(), list(items)))

    batches: Batches[int] = Batches(WriteTurns(), lambda items: False, waiting)
    await asyncio.gather(batches.save(1), batches.save(2))
    ((thread, items),) = threads
    assert (thread != threading.get_ident(), items) == (True, [1, 2])


async def test_each_save_of_a_failed_batch_raises_its_error_and_the_next_batch_is_written() -> None:
    written: list[list[int]] = []

    def at_once(items: Sequence[int]) -> bool:
        if not written:
            written.append([])
            raise DnsautoError("the state store is read-only")
        written.append(list(items))
        return True

    batches: Batches[int] = Batches(WriteTurns(), at_once, lambda items: None)
    outcomes = await asyncio.gather(batches.save(1), batches.save(2), return_exceptions=True)
    assert [str(o) for o in outcomes] == ["the state store is read-only"] * 2
    await batches.save(3)
    assert written == [[], [3]]
