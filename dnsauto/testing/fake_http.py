"""A base for in-process fake provider APIs: an aiohttp app on 127.0.0.1, with faults on demand.

A fake answers like the real API (checked against recorded traffic by
:mod:`dnsauto.testing.fidelity`); the base adds what every fake needs: a free loopback port,
a log of the requests it received, and faults queued for the next matching requests (an error
status with headers and body, a connection reset, or a stall the client's timeout must end).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FakeApi", "FakeClock", "Fault", "ReceivedRequest"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    """What the fake does instead of answering a request whose ``METHOD path`` matches."""

    match: str = ""
    """A regular expression searched in ``"METHOD /path"``; empty matches every request."""
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    """Sent as JSON; a ``str`` is sent as it is, as ``content_type`` (an XML API's error)."""
    content_type: str = "application/json"
    reset: bool = False
    """Drop the connection without answering."""
    stall: bool = False
    """Never answer (until the fake closes)."""
    times: int = 1
    after: int = 0
    """Let this many matching requests through before failing (a fault in the 2nd batch)."""


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class FakeClock:
    """A clock whose ``sleep`` returns at once and moves time on; it records every wait."""

    def __init__(self, start: float = 1_000.0, wall: float = 1_780_000_000.0) -> None:
        self.now = start
        self.wall = wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class FakeApi:
    """Subclasses add their routes in :meth:`routes`; use as ``async with Fake() as fake``."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.faults: list[Fault] = []
        self._stalled = asyncio.Event()
        self.app = web.Application(middlewares=[self._middleware])
        self.routes(self.app.router)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def routes(self, router: web.UrlDispatcher) -> None:
        """Add the API's routes."""

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        self._stalled.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def fail_next(self, fault: Fault) -> None:
        """Queue ``fault`` for the next ``fault.times`` matching requests."""
        self.faults.append(fault)

    def count(self, method: str, pattern: str = "") -> int:
        """How many requests of ``method`` whose path matches ``pattern`` the fake received."""
        return sum(1 for r in self.requests if r.method == method and re.search(pattern, r.path))

    def writes(self) -> int:
        """How many requests the fake received that were not ``GET``."""
        return sum(1 for r in self.requests if r.method != "GET")

    def _take_fault(self, request: web.Request) -> Fault | None:
        line = f"{request.method} {request.path}"
        for fault in self.faults:
            if fault.times > 0 and re.search(fault.match, line):
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.times -= 1
                return fault
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(
            ReceivedRequest(
                request.method, request.path, dict(request.query), dict(request.headers), body
            )
        )
        fault = self._take_fault(request)
        if fault is None:
            return await handler(request)
        if fault.reset:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()  # never reaches the client: the connection is gone
        if fault.stall:
            await self._stalled.wait()
        if isinstance(fault.body, str):
            return web.Response(text=fault.body, status=fault.status, headers=fault.headers,
                                content_type=fault.content_type)  # fmt: skip
        return web.json_response(fault.body, status=fault.status, headers=fault.headers)
