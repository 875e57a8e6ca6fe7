"""``dnsauto sync`` end to end against the fake OVH API, with its HTTP requests counted."""

from __future__ import annotations

import time
from pathlib import Path

from dnsauto_ovh.testing import APPLICATION_KEY, APPLICATION_SECRET, CONSUMER_KEY, FakeOvh

from dnsauto.testing.cli import DOMAIN, SyncRun, assert_published, write_sync_config
from dnsauto.testing.fake_http import Fault

FOREIGN = [
    {"fieldType": "TXT", "subDomain": "", "target": '"google-site-verification=abc"', "ttl": 0},
    {"fieldType": "TXT", "subDomain": "", "target": '"v=spf1 include:_spf.example.net ~all"'},
    {"fieldType": "CAA", "subDomain": "", "target": '0 issue "digicert.com"', "ttl": 300},
    {"fieldType": "A", "subDomain": "www", "target": "192.0.2.1", "ttl": 300},
]

SERVER = f"""
"@type" = "Ovh"
description = "fake OVH"
ovhEndpoint = "ovh-eu"
applicationKey = "{APPLICATION_KEY}"
applicationSecret = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_OVH_AS" }}
consumerKey = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_OVH_CK" }}
"""


def dnsauto(config: Path, fake: FakeOvh) -> SyncRun:
    env = {"DNSAUTO_API_URL_OVH": fake.base_url, "DNSAUTO_TEST_OVH_AS": APPLICATION_SECRET,
           "DNSAUTO_TEST_OVH_CK": CONSUMER_KEY}  # fmt: skip
    return SyncRun(config, env=env, secret=APPLICATION_SECRET)


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakeOvh(now=lambda: time.time() + 3600) as fake:  # the server's clock is ahead
        fake.add_zone(DOMAIN)
        for record in FOREIGN:
            fake.add_record(DOMAIN, record)
        run = dnsauto(config, fake)
        await run.sync()
        assert_published({(r["fieldType"], r["subDomain"]) for r in fake.published(DOMAIN)})
        first_publish, created = len(fake.requests), fake.count("POST", "/record$")
        updated, refreshes = fake.count("PUT"), fake.count("POST", "/refresh$")
        listing = first_publish - fake.writes()
        assert fake.count("DELETE") == 0
        assert created == len(fake.records(DOMAIN)) - len(FOREIGN)
        # the apex TXT RRset: the foreign SPF that dnsauto's SPF is merged into, and both of its
        # records at dnsauto's TTL
        assert updated <= 2
        assert refreshes == 1  # one batch (up to 50 RRsets), one refresh
        assert listing == 3 + len(FOREIGN)  # time, zones, ids, then each record

        await run.sync()
        resync = len(fake.requests) - first_publish
        assert fake.writes() == created + updated + refreshes
        assert resync == 3 + len(fake.records(DOMAIN))

        targets = [r["target"] for r in fake.published(DOMAIN)]
        assert '"google-site-verification=abc"' in targets
        assert "192.0.2.1" in targets
        assert '0 issue "digicert.com"' in targets
        print(f"\nOVH requests: first publish {first_publish} ({created} created, {updated}"
              f" updated, {refreshes} refresh, {listing} listing), re-sync {resync}")  # fmt: skip


async def test_a_create_refused_mid_sync_is_reported_and_journaled_and_the_next_sync_completes(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakeOvh() as fake:
        fake.add_zone(DOMAIN)
        refused = {"errorCode": "INVALID_ARGUMENT", "httpCode": "400 Bad Request",
                   "message": "Invalid target"}  # fmt: skip
        fake.fail_next(Fault(match=r"POST .*/record$", status=400, body=refused))
        run = dnsauto(config, fake)
        domain = await run.sync(ok=False)
        assert "Invalid target" in domain["error"]
        journal = await run.run("journal")
        statuses = [e["status"] for e in journal]
        assert statuses == ["failed"] * len(statuses)  # the refused create was the batch's first
        assert fake.records(DOMAIN) == []

        await run.sync()
        assert ("MX", "") in {(r["fieldType"], r["subDomain"]) for r in fake.published(DOMAIN)}
