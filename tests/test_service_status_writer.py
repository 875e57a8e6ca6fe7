"""The status file's writer: at once while small, in a worker thread once large, and spaced so
that writing takes at most a tenth of the time (without a daemon)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from dnsauto.service.status import STATUS_FILE, StatusSnapshot, StatusWriter, read_status_file


class Writes:
    """Stands in for the file write (the real one is :func:`write_status_file`): records each
    write's thread and says it took ``seconds``; ``gate`` holds a write until it is set."""

    def __init__(self, seconds: float, gate: threading.Event | None = None) -> None:
        self.seconds = seconds
        self.gate = gate
        self.threads: list[int] = []
        self.started = threading.Event()
        self.twice = threading.Event()

    def __call__(self, path: Path, snapshot: StatusSnapshot) -> float:
        self.threads.append(threading.get_ident())
        self.started.set()
        if len(self.threads) == 2:
            self.twice.set()
        if self.gate is not None:
            self.gate.wait(30)
        return self.seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def snapshot() -> StatusSnapshot:
    return StatusSnapshot(
        running=True,
        started_at=0.0,
        updated_at=0.0,
        periodic=None,
        slots=[],
        waiting={},
        syncing={},
        failures={},
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_change_is_written_to_the_status_file(tmp_path: Path) -> None:
    writer = StatusWriter(tmp_path / STATUS_FILE, snapshot)
    writer.changed()
    await settle()
    document = read_status_file(tmp_path)
    assert document is not None
    assert (document["running"], document["domains"]) == (True, {})


async def test_a_small_file_is_written_on_the_event_loop_at_once(tmp_path: Path) -> None:
    writes = Writes(seconds=0.001)
    writer = StatusWriter(tmp_path / "s", snapshot, write=writes)
    writer.changed()
    await settle()
    assert writes.threads == [threading.get_ident()]


async def test_a_large_file_is_written_in_a_worker_thread(tmp_path: Path) -> None:
    writes = Writes(seconds=0.2)
    writer = StatusWriter(tmp_path / "s", snapshot, write=writes)
    writer.write_now()  # the first write says how long one takes
    writer._next_at = 0.0  # due at once, for this test
    writer.changed()
    await asyncio.wait_for(asyncio.to_thread(writes.started.wait, 30), 30)
    await writer.drain()
    assert len(writes.threads) == 2
    assert writes.threads[1] != threading.get_ident()


async def test_writes_are_spaced_to_take_at_most_a_tenth_of_the_time(tmp_path: Path) -> None:
    clock = Clock()
    writes = Writes(seconds=0.003)  # small: written on the loop, at once
    writer = StatusWriter(tmp_path / "s", snapshot, clock=clock, write=writes)
    writer.write_now()
    loop = asyncio.get_running_loop()
    due = asyncio.Event()
    original = loop.call_later
    delays: list[float] = []

    def call_later(delay: float, callback: object, *args: object) -> asyncio.TimerHandle:
        delays.append(delay)
        due.set()
        return original(0, callback, *args)  # type: ignore[arg-type]

    loop.call_later = call_later  # type: ignore[method-assign]
    try:
        writer.changed()
        await due.wait()
    finally:
        loop.call_later = original  # type: ignore[method-assign]
    assert delays == [pytest.approx(0.003 * 9)]


async def test_changes_during_a_write_in_a_thread_give_one_more_write_after_it(
    tmp_path: Path,
) -> None:
    gate = threading.Event()
    writes = Writes(seconds=0.0, gate=gate)
    writer = StatusWriter(tmp_path / "s", snapshot, write=writes)
    writer._seconds = 1.0  # the last write was large: this one goes to a thread
    writer.changed()
    await asyncio.wait_for(asyncio.to_thread(writes.started.wait, 30), 30)
    for _ in range(10):
        writer.changed()
    gate.set()
    await writer.drain()
    await asyncio.wait_for(asyncio.to_thread(writes.twice.wait, 30), 30)
    await writer.drain()
    await settle()
    assert len(writes.threads) == 2
