"""A separate process that puts a fixed round-trip time in front of DNS servers (UDP).

``python -m bench._delay DELAY_MS HOST:PORT ...`` listens on one 127.0.0.1 port per upstream,
prints them as a JSON list, and relays every datagram to its upstream at once, holding the
answer until ``DELAY_MS`` after the question arrived: a query through it takes one emulated
round trip, as to a nameserver far away. It runs until its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, answer: asyncio.Future[bytes]) -> None:
        self.answer = answer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.answer.done():
            self.answer.set_result(data)


class _Front(asyncio.DatagramProtocol):
    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.get_running_loop().create_task(self.relay(data, addr, time.monotonic()))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def relay(self, data: bytes, client: tuple[str, int], arrived: float) -> None:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Upstream(answer), remote_addr=self.upstream
        )
        try:
            transport.sendto(data)
            reply = await asyncio.wait_for(answer, 5)
        except TimeoutError:
            return
        finally:
            transport.close()
        await asyncio.sleep(max(0.0, arrived + self.delay - time.monotonic()))
        if self.transport is not None:
            self.transport.sendto(reply, client)


async def serve(delay: float, upstreams: list[tuple[str, int]]) -> None:
    loop = asyncio.get_running_loop()
    ports = []
    for upstream in upstreams:
        transport, _ = await loop.create_datagram_endpoint(
            lambda u=upstream: _Front(u, delay),  # type: ignore[misc]
            local_addr=("127.0.0.1", 0),
        )
        ports.append(transport.get_extra_info("sockname")[1])
    print(json.dumps(ports), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)


def main() -> None:
    delay = float(sys.argv[1]) / 1000
    upstreams = []
    for text in sys.argv[2:]:
        host, _, port = text.rpartition(":")
        upstreams.append((host, int(port)))
    asyncio.run(serve(delay, upstreams))


if __name__ == "__main__":
    main()
