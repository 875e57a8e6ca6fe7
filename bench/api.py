"""The JMAP API under load: many concurrent clients against the running daemon, on loopback.

``dnsauto run`` is started as a subprocess with a Manual bootstrap and the API on 127.0.0.1
(every DNS question it asks goes to a closed port on 127.0.0.1, so nothing leaves the machine).
Then 50 clients, each its own aiohttp session (one keep-alive connection), first send 100
requests that are not counted (every connection open, the server warm), then 1,000 requests
between them as fast as the answers come: every other one ``x:Bootstrap/get`` of the singleton,
the rest ``x:DnsServer/query``. A request counts as an error unless it gets HTTP 200 and a
method response that is not ``error``. Latency is from sending a request to having read its
whole answer. Quick mode: 100 requests from 10 clients.

Target: no error. p99 latency and throughput are reported.

Then, on the same daemon, the two largest requests the defaults allow:

- **amplification**: ``maxCallsInRequest`` Core/echo calls, each referring twice to the one
  before, with the largest padding whose response stays under ``maxResponseBytes``; its
  response size and time (one more byte of padding is a ``limit`` error).
- **the largest /set**: ``maxCallsInRequest`` x:Domain/set calls of ``maxObjects`` creates each
  (quick: 2 of 100), while one client sends Core/echo after Core/echo; the slowest echo during
  the /set is the event loop's stall (target: under 100 ms).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import Figure
from tests.api_helpers import start_api_daemon

__all__ = ["TITLE", "LoadResult", "Settings", "load", "run"]

TITLE = "JMAP API: 1,000 requests from 50 concurrent clients on loopback (errors, p99, rate)"

USING = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"]
CALLS: tuple[list[Any], ...] = (
    ["x:Bootstrap/get", {"ids": ["singleton"]}, "c1"],
    ["x:DnsServer/query", {}, "c1"],
)


@dataclass(frozen=True)
class Settings:
    requests: int = 1000
    clients: int = 50
    warmup: int = 100
    """Requests sent (and not counted) before the measured ones: every client's connection is
    open and the server's code paths warm when the measurement starts."""

    set_calls: int = 16
    set_objects: int = 1000
    set_dkim: str = "Manual"
    """The created Domains' dkimManagement: ``Automatic`` adds the syncs' DKIM key generation,
    which runs on the daemon's event loop (not the API's doing)."""
    amplified_calls: int = 16
    after_set_seconds: float = 10.0
    """How long Core/echo goes on after the largest /set is answered: its domains are synced
    then (the request held their runs), and the echoes show what those syncs cost the loop."""

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            requests=100,
            clients=10,
            warmup=20,
            set_calls=2,
            set_objects=100,
            after_set_seconds=1.0,
        )


@dataclass(frozen=True)
class LoadResult:
    latencies: list[float]
    """Seconds, one per request that succeeded."""
    errors: int
    error_kinds: dict[str, int]
    seconds: float
    """From the first request sent to the last answer read."""


def run(quick: bool) -> list[Figure]:
    """Start the daemon, load its API, stop it."""
    settings = Settings.quick() if quick else Settings()
    with (
        tempfile.TemporaryDirectory(prefix="dnsauto-bench-api-") as directory,
        start_api_daemon(Path(directory)) as daemon,
    ):
        result = asyncio.run(load(daemon.url, daemon.token, settings))
        amplified = asyncio.run(largest_amplification(daemon.url, daemon.token, settings))
        stall = asyncio.run(set_stall(daemon.url, daemon.token, settings))
    return figures(result, settings) + amplified + stall


def _doubling_echoes(calls: int, pad: int) -> dict[str, Any]:
    first = ["Core/echo", {"pad": "x" * pad}, "c0"]
    rest = [
        [
            "Core/echo",
            {
                f"#{half}": {"resultOf": f"c{n - 1}", "name": "Core/echo", "path": ""}
                for half in ("a", "b")
            },
            f"c{n}",
        ]
        for n in range(1, calls)
    ]
    return {"using": USING, "methodCalls": [first, *rest]}


async def largest_amplification(url: str, token: str, settings: Settings) -> list[Figure]:
    """The largest doubling-echo request that is answered: its response size and time."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=120)
    best: tuple[int, float, int] | None = None
    async with aiohttp.ClientSession(timeout=timeout) as session:
        low, high = 1, 10_000  # the padding: binary search for the largest answered
        while low <= high:
            pad = (low + high) // 2
            body = _doubling_echoes(settings.amplified_calls, pad)
            started = time.perf_counter()
            async with session.post(f"{url}/api", json=body, headers=headers) as response:
                content = await response.read()
                seconds = time.perf_counter() - started
            if response.status == 200:
                best = (len(content), seconds, pad)
                low = pad + 1
            else:
                high = pad - 1
    size, seconds, pad = best if best is not None else (0, 0.0, 0)
    return [
        Figure(
            "api.amplified_response_bytes",
            size,
            "B",
            f"largest answered {settings.amplified_calls}-call doubling Core/echo request "
            f"(padding {pad} B); more is a limit error",
        ),
        Figure("api.amplified_response_ms", _ms(seconds), "ms", "its time, sent -> read"),
    ]


def _largest_set(settings: Settings) -> bytes:
    """The request of ``set_calls`` x:Domain/set calls of ``set_objects`` creates, encoded."""
    calls = [
        [
            "x:Domain/set",
            {
                "create": {
                    f"n{c}-{n}": {
                        "name": f"b{c}-{n}.test",
                        "dnsManagement": {"@type": "Manual"},
                        "dkimManagement": {"@type": settings.set_dkim},
                    }
                    for n in range(settings.set_objects)
                }
            },
            f"s{c}",
        ]
        for c in range(settings.set_calls)
    ]
    return json.dumps({"using": USING, "methodCalls": calls}).encode()


async def set_stall(url: str, token: str, settings: Settings) -> list[Figure]:
    """Core/echo latencies while the largest /set runs."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # Encoded before and parsed after the probing: this process shares one interpreter,
    # and encoding or parsing megabytes of JSON held it (and every echo) for 0.1-0.3 s, which
    # is this client's stall, not the daemon's.
    body = _largest_set(settings)
    echo = {"using": USING, "methodCalls": [["Core/echo", {"ping": 1}, "e"]]}
    timeout = aiohttp.ClientTimeout(total=3600)
    latencies: list[float] = []
    after: list[float] = []
    async with (
        aiohttp.ClientSession(timeout=timeout) as setter,
        aiohttp.ClientSession(timeout=timeout) as prober,
    ):

        async def the_set() -> tuple[int, bytes, float]:
            started = time.perf_counter()
            async with setter.post(f"{url}/api", data=body, headers=headers) as response:
                content = await response.read()
            return response.status, content, time.perf_counter() - started

        async def probe(into: list[float]) -> None:
            started = time.perf_counter()
            async with prober.post(f"{url}/api", json=echo, headers=headers) as response:
                await response.read()
            into.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)

        task = asyncio.create_task(the_set())
        while not task.done():
            await probe(latencies)
        status, content, seconds = await task
        after_end = time.perf_counter() + settings.after_set_seconds
        while time.perf_counter() < after_end:  # the syncs of the domains it created
            await probe(after)
    document = json.loads(content)
    created = sum(
        len(answer[1].get("created") or {}) for answer in document.get("methodResponses", [])
    )
    expected = settings.set_calls * settings.set_objects
    worst = max(latencies) if latencies else None
    return [
        Figure(
            "api.set_objects",
            created,
            "",
            f"Domains created by one request of {settings.set_calls} x:Domain/set calls "
            f"(HTTP {status})",
            f"== {expected}",
            created == expected,
        ),
        Figure("api.set_seconds", round(seconds, 2), "s", "that request, sent -> read"),
        Figure("api.echoes_during_set", len(latencies), "", "Core/echo answered meanwhile"),
        Figure(
            "api.echo_during_set_max_ms",
            _ms(worst),
            "ms",
            "slowest Core/echo during the /set: the event loop's stall",
            "< 100",
            worst is not None and worst < 0.1,
        ),
        Figure(
            "api.echo_during_set_p99_ms",
            _ms(_percentile(latencies, 0.99)),
            "ms",
            "Core/echo during the /set, 99th percentile",
        ),
        Figure(
            "api.echo_after_set_max_ms",
            _ms(max(after) if after else None),
            "ms",
            f"slowest Core/echo in the {settings.after_set_seconds:g} s after the /set's "
            "answer, while the daemon syncs the domains it created",
        ),
        Figure(
            "api.echo_after_set_p99_ms",
            _ms(_percentile(after, 0.99)),
            "ms",
            "Core/echo after the /set, 99th percentile",
        ),
    ]


async def load(url: str, token: str, settings: Settings) -> LoadResult:
    """Send ``settings.requests`` requests from ``settings.clients`` concurrent clients."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    endpoint = f"{url}/api"
    latencies: list[float] = []
    kinds: dict[str, int] = {}

    async def one(session: aiohttp.ClientSession, index: int) -> str | None:
        body = {"using": USING, "methodCalls": [CALLS[index % len(CALLS)]]}
        try:
            async with session.post(endpoint, json=body, headers=headers) as response:
                document = await response.json(content_type=None)
                if response.status != 200:
                    return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return type(exc).__name__
        answer = document.get("methodResponses", [[None]])[0] if isinstance(document, dict) else []
        if not answer or answer[0] != CALLS[index % len(CALLS)][0]:
            return f"method {answer[0] if answer else None}"
        return None

    async def client(
        session: aiohttp.ClientSession, indexes: Iterator[int], measured: bool
    ) -> None:
        for index in indexes:
            started = time.perf_counter()
            problem = await one(session, index)
            if not measured:
                continue
            if problem is None:
                latencies.append(time.perf_counter() - started)
            else:
                kinds[problem] = kinds.get(problem, 0) + 1

    timeout = aiohttp.ClientTimeout(total=30)
    sessions = [
        aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(limit=1, force_close=False)
        )
        for _ in range(settings.clients)
    ]
    try:
        warmup = iter(range(settings.warmup))
        await asyncio.gather(*(client(s, warmup, False) for s in sessions))
        measured = iter(range(settings.requests))
        started = time.perf_counter()
        await asyncio.gather(*(client(s, measured, True) for s in sessions))
        seconds = time.perf_counter() - started
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    return LoadResult(latencies, sum(kinds.values()), kinds, seconds)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def figures(result: LoadResult, settings: Settings) -> list[Figure]:
    done = len(result.latencies) + result.errors
    rate = round(done / result.seconds, 1) if result.seconds > 0 else None
    kinds = ", ".join(f"{k} x{n}" for k, n in sorted(result.error_kinds.items()))
    return [
        Figure("api.requests", done, "", "requests sent (half Bootstrap/get, half query)"),
        Figure("api.clients", settings.clients, "", "concurrent clients, one connection each"),
        Figure(
            "api.errors",
            result.errors,
            "",
            f"requests without a 200 and their method's response{f' ({kinds})' if kinds else ''}",
            "== 0",
            result.errors == 0,
        ),
        Figure(
            "api.p50_ms",
            _ms(statistics.median(result.latencies)) if result.latencies else None,
            "ms",
            "request sent -> answer read, median",
        ),
        Figure(
            "api.p99_ms",
            _ms(_percentile(result.latencies, 0.99)),
            "ms",
            "request sent -> answer read, 99th percentile",
        ),
        Figure(
            "api.max_ms",
            _ms(max(result.latencies)) if result.latencies else None,
            "ms",
            "slowest request",
        ),
        Figure("api.requests_per_second", rate, "1/s", "requests answered per second"),
    ]
