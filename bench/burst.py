"""A burst of 2000 TXT records written to Knot in the provider's batches, then deleted.

Stalwart's dns-update#83 (Knot failing many single-record updates) is proven not to recur by
``providers/rfc2136/tests/test_rfc2136_burst.py``; this measures how long the burst takes
(``--quick``: 200 records).
"""

from __future__ import annotations

import asyncio
import time

import dns.name
from dnsauto_rfc2136.provider import TsigProvider
from dnsauto_rfc2136.settings import TsigDnsServer

from bench import Figure
from dnsauto.plugin.changes import Create, Delete
from dnsauto.plugin.context import ProviderContext
from dnsauto.plugin.provider import Zone
from dnsauto.testing import make_rrset
from dnsauto.testing.servers import SERVERS, ZONE, RunningServer

__all__ = ["TITLE", "run"]

TITLE = "2000 TXT records written to Knot in the Tsig provider's batches"
TARGET_SECONDS = 30.0


def run(quick: bool) -> list[Figure]:
    count = 200 if quick else 2000
    server = SERVERS["knot"]()
    try:
        seconds = asyncio.run(_burst(server, count))
    finally:
        server.stop()
    return [
        Figure(
            f"burst.knot_n{count}_s",
            round(seconds, 2),
            "s",
            f"{count} TXT records, one UPDATE per batch, to Knot on loopback",
            f"< {TARGET_SECONDS:g}" if count == 2000 else "",
            seconds < TARGET_SECONDS if count == 2000 else None,
        )
    ]


def _provider(server: RunningServer) -> TsigProvider:
    key = server.key("hmac-sha256")
    settings = TsigDnsServer.model_validate(
        {
            "@type": "Tsig",
            "description": "knot",
            "host": server.host,
            "port": server.port,
            "keyName": key.name,
            "key": {"@type": "Value", "secret": key.secret},
            "tsigAlgorithm": key.algorithm,
            "timeout": "5s",
        }
    )
    return TsigProvider(settings, ProviderContext(server_id="bench"))


async def _burst(server: RunningServer, count: int) -> float:
    """Seconds to write ``count`` records (they are deleted afterwards, untimed)."""
    provider = _provider(server)
    batch = provider.capabilities.max_changes_per_batch or count
    zone_name = dns.name.from_text(ZONE)
    zone = Zone(zone_name)
    rrsets = [
        make_rrset(dns.name.from_text(f"burst-{i}", zone_name), "TXT", 300, f'"record {i}"')
        for i in range(count)
    ]
    started = time.perf_counter()
    for start in range(0, count, batch):
        await provider.apply(zone, [Create(r) for r in rrsets[start : start + batch]])
    seconds = time.perf_counter() - started
    for start in range(0, count, batch):
        await provider.apply(zone, [Delete(r) for r in rrsets[start : start + batch]])
    await provider.aclose()
    return seconds
