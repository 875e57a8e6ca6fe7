"""What goes on the wire: the configured protocol, TCP fallback, one UPDATE per batch, retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import dns.name
import pytest
from dnsauto_rfc2136.provider import TsigProvider
from dnsauto_rfc2136.transport import RetryPolicy
from rfc2136_testing import tsig_provider

from dnsauto.plugin import Create, Delete, TransientError, Zone
from dnsauto.testing import make_rrset
from dnsauto.testing.servers import ZONE, RunningServer
from dnsauto.testing.servers.proxy import WireProxy

pytestmark = pytest.mark.servers

ZONE_NAME = dns.name.from_text(ZONE)


@pytest.fixture
async def proxy(dns_server: RunningServer) -> AsyncIterator[WireProxy]:
    proxy = await WireProxy((dns_server.host, dns_server.port)).start()
    yield proxy
    await proxy.stop()


def through(proxy: WireProxy, server: RunningServer, protocol: str, **fields: Any) -> TsigProvider:
    """A provider for ``server`` that talks to it through ``proxy``."""
    provider = tsig_provider(server, protocol=protocol, **fields)
    provider.endpoint = replace(provider.endpoint, port=proxy.port)
    return provider


async def test_protocol_udp_sends_queries_and_updates_over_udp_only(
    proxy: WireProxy, dns_server: RunningServer
) -> None:
    provider = through(proxy, dns_server, "udp")
    name = dns.name.from_text("wire-udp", ZONE_NAME)
    zone = await provider.find_zone(name)
    rrset = make_rrset(name, "TXT", 300, '"over udp"')
    await provider.apply(zone, [Create(rrset)])
    await provider.apply(zone, [Delete(rrset)])
    assert proxy.count("udp", "QUERY") >= 1
    assert proxy.count("udp", "UPDATE") == 2
    assert proxy.count("tcp") == 0


async def test_protocol_tcp_sends_queries_and_updates_over_tcp_only(
    proxy: WireProxy, dns_server: RunningServer
) -> None:
    provider = through(proxy, dns_server, "tcp")
    name = dns.name.from_text("wire-tcp", ZONE_NAME)
    zone = await provider.find_zone(name)
    rrset = make_rrset(name, "TXT", 300, '"over tcp"')
    await provider.apply(zone, [Create(rrset)])
    await provider.apply(zone, [Delete(rrset)])
    assert proxy.count("tcp", "QUERY") >= 1
    assert proxy.count("tcp", "UPDATE") == 2
    assert proxy.count("udp") == 0


async def test_truncated_udp_answer_is_asked_again_over_tcp(
    proxy: WireProxy, dns_server: RunningServer
) -> None:
    # The update-only key may not transfer the zone, so reading falls back to queries.
    provider = through(proxy, dns_server, "udp", key=dns_server.update_only_key)
    name = dns.name.from_text("wire-big", ZONE_NAME)
    values = [f'"{i:02d} {"x" * 200}"' for i in range(8)]
    rrset = make_rrset(name, "TXT", 300, *values)
    zone = Zone(ZONE_NAME)
    await provider.apply(zone, [Create(rrset)])
    try:
        before = proxy.count("tcp", "QUERY")
        (listed,) = [
            r for r in await provider.list_rrsets(zone, [name]) if r.rdtype == rrset.rdtype
        ]
        assert {r.to_text() for r in listed} == {r.to_text() for r in rrset}
        assert proxy.count("tcp", "QUERY") > before
    finally:
        await provider.apply(zone, [Delete(rrset)])


async def test_update_too_large_for_one_datagram_goes_over_tcp_even_with_udp(
    proxy: WireProxy, dns_server: RunningServer
) -> None:
    provider = through(proxy, dns_server, "udp")
    zone = Zone(ZONE_NAME)
    rrsets = [
        make_rrset(dns.name.from_text(f"wire-many-{i}", ZONE_NAME), "TXT", 300, f'"{"y" * 100}"')
        for i in range(20)
    ]
    await provider.apply(zone, [Create(r) for r in rrsets])
    await provider.apply(zone, [Delete(r) for r in rrsets])
    assert proxy.count("tcp", "UPDATE") == 2
    assert proxy.count("udp", "UPDATE") == 0


async def test_a_batch_of_changes_is_one_update_message(
    proxy: WireProxy, dns_server: RunningServer
) -> None:
    provider = through(proxy, dns_server, "tcp")
    zone = Zone(ZONE_NAME)
    rrsets = [
        make_rrset(dns.name.from_text(f"wire-batch-{i}", ZONE_NAME), "TXT", 300, f'"{i}"')
        for i in range(200)
    ]
    await provider.apply(zone, [Create(r) for r in rrsets])
    await provider.apply(zone, [Delete(r) for r in rrsets])
    assert proxy.count("tcp", "UPDATE") == 2


async def test_servfail_is_retried_with_backoff_until_the_server_succeeds(
    proxy: WireProxy, dns_server: RunningServer
) -> None:
    provider = through(proxy, dns_server, "udp")
    name = dns.name.from_text("wire-servfail", ZONE_NAME)
    rrset = make_rrset(name, "TXT", 300, '"after two failures"')
    proxy.servfail_updates = 2
    await provider.apply(Zone(ZONE_NAME), [Create(rrset)])
    assert proxy.count("udp", "UPDATE") == 3
    await provider.apply(Zone(ZONE_NAME), [Delete(rrset)])


async def test_servfail_on_every_attempt_is_a_transient_error_saying_so(
    proxy: WireProxy, dns_server: RunningServer
) -> None:
    provider = through(proxy, dns_server, "udp")
    rrset = make_rrset(dns.name.from_text("wire-down", ZONE_NAME), "TXT", 300, '"never"')
    proxy.servfail_updates = 100
    with pytest.raises(TransientError, match=r"SERVFAIL.*\(3 attempts\)"):
        await provider.apply(Zone(ZONE_NAME), [Create(rrset)])
    assert proxy.count("udp", "UPDATE") == 3


def test_servfail_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(attempts=8, base=0.25, cap=2.0)
    assert [policy.delay(n) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
