"""Bursts: Stalwart's dns-update#83 (Knot failing many single-record updates) does not recur.

How long the burst takes is measured by ``python -m bench burst``."""

from __future__ import annotations

import dns.name
import pytest
from rfc2136_testing import tsig_provider

from dnsauto.plugin import Create, Delete, Zone
from dnsauto.testing import make_rrset
from dnsauto.testing.servers import ZONE, RunningServer

pytestmark = pytest.mark.servers

ZONE_NAME = dns.name.from_text(ZONE)


async def test_a_burst_of_2000_records_in_batches_succeeds_on_knot(
    knot_server: RunningServer,
) -> None:
    provider = tsig_provider(knot_server)
    batch = provider.capabilities.max_changes_per_batch
    assert batch is not None
    zone = Zone(ZONE_NAME)
    rrsets = [
        make_rrset(dns.name.from_text(f"burst-{i}", ZONE_NAME), "TXT", 300, f'"record {i}"')
        for i in range(2000)
    ]
    for start in range(0, len(rrsets), batch):
        await provider.apply(zone, [Create(r) for r in rrsets[start : start + batch]])
    try:
        listed = {
            r.name
            for r in await provider.list_rrsets(zone)
            if r.name.labels[0].startswith(b"burst-")
        }
        assert listed == {r.name for r in rrsets}
    finally:
        for start in range(0, len(rrsets), batch):
            await provider.apply(zone, [Delete(r) for r in rrsets[start : start + batch]])
