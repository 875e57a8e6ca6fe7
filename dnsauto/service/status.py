"""The status file ``<stateDir>/daemon-status.json``: the daemon's schedule, written on every
change for ``dnsauto status`` (which reads it with :func:`read_status_file`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from dnsauto.plugin.pieces import dumps_in_pieces

__all__ = [
    "STATUS_FILE",
    "STATUS_VERSION",
    "SlotStatus",
    "StatusSnapshot",
    "StatusWriter",
    "WaitingRun",
    "iso",
    "read_status_file",
    "status_document",
    "write_atomically",
    "write_status_file",
]

log = logging.getLogger(__name__)

STATUS_FILE = "daemon-status.json"
STATUS_VERSION = 1


def read_status_file(state_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The schedule a daemon last wrote, or None when there is none (or it cannot be read)."""
    path = Path(state_dir) / STATUS_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` at once: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@functools.lru_cache(maxsize=4096)  # most domains share their next run: the periodic one
def iso(when: float) -> str:
    """Unix time as ISO 8601 in UTC, to the second (``2026-01-01T00:00:00Z``)."""
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SlotStatus(Protocol):
    """What the status file shows of one domain's slot in the daemon."""

    last_propagation: float | None
    awaiting_approval: str | None
    """The plan the unsafe-plan stop refused, waiting for a person's approval."""
    needs_attention: str | None


class WaitingRun(Protocol):
    """A requested run that has not started (the coalescer's ``Request``)."""

    due: float
    reasons: list[str]


@dataclass(frozen=True)
class StatusSnapshot:
    """What the status file shows, taken on the event loop: shallow copies of the daemon's
    maps, a few C-level copies however many domains there are. The document is made from it
    elsewhere (with thousands of domains, in a worker thread), and only there are the slots
    and waiting runs read, each field once: a row may show a change made meanwhile, which
    the next write shows anyway, but never a value half written."""

    running: bool
    started_at: float
    updated_at: float
    periodic: float | None
    slots: list[tuple[str, SlotStatus]]
    waiting: Mapping[str, WaitingRun]
    syncing: Mapping[str, str]
    """The domains syncing now, with their run ids."""
    failures: Mapping[str, int]


def status_document(snapshot: StatusSnapshot) -> dict[str, Any]:
    """The status file's JSON document."""
    running, periodic = snapshot.running, snapshot.periodic
    waiting, syncing, failures = snapshot.waiting, snapshot.syncing, snapshot.failures
    domains = {}
    for name, slot in sorted(snapshot.slots, key=lambda item: item[0]):
        request = waiting.get(name)
        if request is not None:
            upcoming: tuple[float, str | None] | None = (request.due, ", ".join(request.reasons))
        else:
            upcoming = (periodic, "periodic") if periodic is not None else None
        domains[name] = {
            "nextRun": iso(upcoming[0]) if upcoming and running else None,
            "nextReason": upcoming[1] if upcoming and running else None,
            "syncing": syncing.get(name),
            "consecutiveFailures": failures.get(name, 0),
            "lastPropagationSeconds": slot.last_propagation,
            "awaitingApproval": slot.awaiting_approval,
            "needsAttention": slot.needs_attention,
        }
    return {
        "version": STATUS_VERSION,
        "pid": os.getpid(),
        "running": running,
        "startedAt": iso(snapshot.started_at),
        "updatedAt": iso(snapshot.updated_at),
        "nextReconcile": iso(periodic) if periodic is not None and running else None,
        "domains": domains,
    }


def write_status_file(path: Path, snapshot: StatusSnapshot) -> float:
    """Write the status file (an error is logged, not raised); the seconds that took."""
    started = time.monotonic()
    try:
        write_atomically(path, dumps_in_pieces(status_document(snapshot)))  # a row a piece
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc.strerror)
    return time.monotonic() - started


class StatusWriter:
    """Writes the status file each time the daemon's schedule changes, without stalling the
    event loop: a small file at once, a large one (some 100 ms of CPU for 16,000 domains) in
    a worker thread, and writes spaced so that they take at most a tenth of the time, since
    the thread holds the interpreter while it builds the document.

    ``snapshot`` takes what the file shows, on the event loop; every method but
    :meth:`write_now` is called there.
    """

    INLINE_SECONDS = 0.005
    """A write that took less is done on the event loop, at once."""
    SHARE = 0.1
    """The largest share of the time spent writing the file."""

    def __init__(
        self,
        path: Path,
        snapshot: Callable[[], StatusSnapshot],
        clock: Callable[[], float] = time.monotonic,
        write: Callable[[Path, StatusSnapshot], float] | None = None,
    ) -> None:
        self.path = path
        self._snapshot = snapshot
        self._write_file = write or write_status_file
        """Writes the file and says how long that took (:func:`write_status_file`)."""
        self._clock = clock
        self._soon = False
        self._writing: asyncio.Future[float] | None = None
        self._again = False
        self._seconds = 0.0
        """How long the last write took."""
        self._next_at = 0.0

    def changed(self) -> None:
        """The schedule changed: write the file soon."""
        if self._writing is not None:
            self._again = True  # written again once this write is done
            return
        if self._soon:
            return
        self._soon = True
        delay = max(0.0, self._next_at - self._clock())
        asyncio.get_running_loop().call_later(delay, self._write)

    async def drain(self) -> None:
        """Wait for the write in flight, if any."""
        if self._writing is not None:
            await asyncio.wait([self._writing])

    def write_now(self) -> None:
        """Write the file now, here (the daemon's last word, as it stops)."""
        self._soon = False
        self._done(self._write_file(self.path, self._snapshot()))

    def _write(self) -> None:
        self._soon = False
        if self._writing is not None:
            self._again = True
            return
        snapshot = self._snapshot()
        if self._seconds < self.INLINE_SECONDS:
            self._done(self._write_file(self.path, snapshot))
            return
        self._writing = asyncio.ensure_future(
            asyncio.to_thread(self._write_file, self.path, snapshot)
        )
        self._writing.add_done_callback(self._written)

    def _written(self, write: asyncio.Future[float]) -> None:
        self._writing = None
        if write.cancelled():
            return
        self._done(write.result())
        if self._again:
            self._again = False
            self.changed()

    def _done(self, seconds: float) -> None:
        self._seconds = seconds
        self._next_at = self._clock() + seconds * (1 - self.SHARE) / self.SHARE
