"""The EventSource push channel (RFC 8620 §7.3): ``StateChange`` events for the API's types.

A stream compares the states of the types it follows (``x:Bootstrap``, ``x:DnsServer``,
``x:Domain``, ``x:Task``) each time the :class:`EventHub` is woken (a ``/set`` answered, a run
requested or finished) and at least every few seconds (a SIGHUP reload changes the
configuration without telling the API), and sends the types whose state changed since the
last event. The event id is a digest of all the states it followed, so a client reconnecting
with ``Last-Event-ID`` is sent the current states at once when anything changed meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping

from aiohttp import web

__all__ = ["TYPES", "EventHub", "EventSourceQuery", "parse_query", "stream"]

TYPES = ("x:Bootstrap", "x:DnsServer", "x:Domain", "x:Task")
"""The data types a StateChange names (the method names' prefixes)."""

RECHECK = 5.0
"""Seconds between two comparisons when nothing woke the stream (a reload, say)."""

MAX_PING = 300


class EventHub:
    """Wakes the open streams; :meth:`notify` may be called from any thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self.closed = False
        self.streams = 0
        """Streams open now."""
        self.opened: asyncio.Event | None = None
        """Set once a stream is open and has taken the states it compares with."""

    def bind(self) -> None:
        """Attach to the running loop (the server's)."""
        if self._loop is asyncio.get_running_loop():
            return
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self.opened = asyncio.Event()

    def notify(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake()
        else:
            loop.call_soon_threadsafe(self._wake)

    def close(self) -> None:
        self.closed = True
        self.notify()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Until the next :meth:`notify`, or ``seconds`` have passed."""
        self.bind()
        assert self._changed is not None
        event = self._changed
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            pass


class EventSourceQuery:
    """``types``, ``closeafter`` and ``ping`` of an EventSource URL."""

    def __init__(self, types: tuple[str, ...], close_after_state: bool, ping: int) -> None:
        self.types = types
        self.close_after_state = close_after_state
        self.ping = ping


def parse_query(query: Mapping[str, str], allowed: tuple[str, ...]) -> EventSourceQuery:
    """The query, or ValueError naming the bad parameter. ``types`` is ``*`` or a comma
    list; types the key may not read are left out (they would reveal nothing else)."""
    raw = query.get("types", "*").strip()
    if raw in ("", "*"):
        wanted: tuple[str, ...] = TYPES
    else:
        wanted = tuple(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))
        unknown = [t for t in wanted if t not in TYPES]
        if unknown:
            raise ValueError(f"types: unknown type {unknown[0]!r} (known: {', '.join(TYPES)})")
    close_after = query.get("closeafter", "no")
    if close_after not in ("state", "no"):
        raise ValueError("closeafter: must be 'state' or 'no'")
    ping_text = query.get("ping", "0")
    if not ping_text.isdigit():
        raise ValueError("ping: must be a non-negative integer (seconds)")
    ping = min(int(ping_text), MAX_PING)
    return EventSourceQuery(tuple(t for t in wanted if t in allowed), close_after == "state", ping)


def event_id(states: Mapping[str, str]) -> str:
    text = json.dumps(dict(sorted(states.items())), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _frame(kind: str, data: object, ident: str | None = None) -> bytes:
    lines = [f"event: {kind}"]
    if ident is not None:
        lines.append(f"id: {ident}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


async def stream(
    request: web.Request,
    query: EventSourceQuery,
    *,
    hub: EventHub,
    states: Callable[[tuple[str, ...]], dict[str, str]],
    account_id: str,
    headers: Mapping[str, str],
) -> web.StreamResponse:
    """Serve one EventSource connection until the client leaves (or ``closeafter=state``)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **headers,
        }
    )
    await response.prepare(request)
    last = states(query.types)
    hub.bind()
    hub.streams += 1
    assert hub.opened is not None
    hub.opened.set()
    try:
        await _follow(response, request, query, hub, states, account_id, last)
    except ConnectionResetError:
        pass  # the client left
    finally:
        hub.streams -= 1
    return response


async def _follow(
    response: web.StreamResponse,
    request: web.Request,
    query: EventSourceQuery,
    hub: EventHub,
    states: Callable[[tuple[str, ...]], dict[str, str]],
    account_id: str,
    last: dict[str, str],
) -> None:
    loop = asyncio.get_running_loop()
    next_ping = loop.time() + query.ping if query.ping else None
    seen = request.headers.get("Last-Event-ID")
    if seen is not None and seen != event_id(last):
        last = {}  # the client saw other states: it gets the current ones now
    while not hub.closed:
        now = states(query.types)
        changed = {name: state for name, state in now.items() if last.get(name) != state}
        if changed:
            change = {"@type": "StateChange", "changed": {account_id: changed}}
            await response.write(_frame("state", change, event_id(now)))
            last = now
            if query.close_after_state:
                break
        elif next_ping is not None and loop.time() >= next_ping:
            await response.write(_frame("ping", {"@type": "Ping", "interval": query.ping}))
        if next_ping is not None and loop.time() >= next_ping:
            next_ping = loop.time() + query.ping
        timeout = RECHECK if next_ping is None else max(0.0, min(RECHECK, next_ping - loop.time()))
        await hub.wait(timeout)
    await response.write_eof()
