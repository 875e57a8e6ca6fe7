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
"""

from __future__ import annotations

import asyncio
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

    @classmethod
    def quick(cls) -> Settings:
        return cls(requests=100, clients=10, warmup=20)


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
    return figures(result, settings)


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
