"""What a slow or idle client may hold: every connection must send its request headers, its
body and its next request in time, and the open connections are capped. Each test watches its
own client's connection being answered or closed; the guard timeouts only keep a regression
from hanging the suite."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dnsauto.api.server import ApiServer
from dnsauto.config.loader import load_config_file
from dnsauto.config.overlay import effective_config
from dnsauto.plugin.registry import load_registry
from dnsauto.state.store import StateStore
from tests.api_server_helpers import ADMIN_TOKEN, CONFIG, FakeHost, request, write_config

GUARD = 20.0
"""Seconds before a test that waits for the server gives up (a hang, not a slow answer)."""

LIMITS = """
maxConcurrentRequests = 2
maxConnections = 4
headerTimeout = "300ms"
bodyTimeout = "300ms"
keepAliveTimeout = "300ms"
"""


@contextlib.asynccontextmanager
async def serving(folder: Path, limits: str = LIMITS) -> AsyncIterator[tuple[str, int]]:
    """An :class:`ApiServer` listening on 127.0.0.1 (any port) with ``limits``."""
    text = CONFIG.replace("maxAuthFailures = 3", "maxAuthFailures = 3\n" + limits)
    registry = load_registry()
    base = load_config_file(write_config(folder, text), registry)
    store = StateStore(base.daemon.state_dir)
    server = ApiServer(FakeHost(effective_config(base, store, registry=registry), registry), store)
    try:
        address = await server.start("127.0.0.1")
        host, _, port = address.rpartition(":")
        yield host, int(port)
    finally:
        await server.close()
        store.close()


ECHO = json.dumps(request(("Core/echo", {"hello": "world"}))).encode()


def head(length: int) -> bytes:
    return (
        "POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def connect(address: tuple[str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*address)


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), GUARD)


async def echo_answers(address: tuple[str, int]) -> bool:
    reader, writer = await connect(address)
    try:
        writer.write(head(len(ECHO)) + ECHO)
        status = await asyncio.wait_for(reader.readline(), GUARD)
        return status.startswith(b"HTTP/1.1 200")
    finally:
        writer.close()


async def test_a_connection_that_never_finishes_its_headers_is_closed(tmp_path: Path) -> None:
    async with serving(tmp_path) as address:
        reader, writer = await connect(address)
        writer.write(b"POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and nothing more
        assert await until_closed(reader) == b""
        writer.close()


async def test_a_connection_that_sends_nothing_is_closed(tmp_path: Path) -> None:
    async with serving(tmp_path) as address:
        reader, writer = await connect(address)
        assert await until_closed(reader) == b""
        writer.close()


async def test_an_unfinished_body_is_408_and_frees_its_request_slot(tmp_path: Path) -> None:
    async with serving(tmp_path) as address:
        slow = [await connect(address) for _ in range(2)]  # maxConcurrentRequests
        for _, writer in slow:
            writer.write(head(len(ECHO)) + ECHO[:10])
        for reader, writer in slow:
            answer = await until_closed(reader)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert b"the request body did not arrive" in answer
            writer.close()
        assert await echo_answers(address)


async def test_an_idle_keep_alive_connection_is_closed_after_its_response(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path) as address:
        reader, writer = await connect(address)
        writer.write(head(len(ECHO)) + ECHO)
        answer = await until_closed(reader)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b'"hello":"world"' in answer
        writer.close()


async def test_connections_beyond_max_connections_are_refused_with_503(tmp_path: Path) -> None:
    limits = LIMITS.replace('headerTimeout = "300ms"', 'headerTimeout = "1h"').replace(
        'keepAliveTimeout = "300ms"', 'keepAliveTimeout = "1h"'
    )
    async with serving(tmp_path, limits) as address:
        held = [await connect(address) for _ in range(4)]  # maxConnections, all idle
        for _, writer in held:  # each is accepted: it gets an answer
            writer.write(head(len(ECHO)) + ECHO)
        for reader, _ in held:
            status = await asyncio.wait_for(reader.readline(), GUARD)
            assert status.startswith(b"HTTP/1.1 200")
        reader, writer = await connect(address)
        answer = await until_closed(reader)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        writer.close()
        held[0][1].close()
        await held[0][1].wait_closed()
        for _ in range(100):  # the server notices the close when its loop gets to it
            if await _accepted(address):
                break
        else:
            pytest.fail("a freed connection slot was never given to a new connection")
        for _, other in held[1:]:
            other.close()


async def _accepted(address: tuple[str, int]) -> bool:
    reader, writer = await connect(address)
    try:
        writer.write(head(len(ECHO)) + ECHO)
        status = await asyncio.wait_for(reader.readline(), GUARD)
        return status.startswith(b"HTTP/1.1 200")
    finally:
        writer.close()
