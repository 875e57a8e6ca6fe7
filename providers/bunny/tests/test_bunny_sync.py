"""``dnsauto sync`` end to end against the fake Bunny API, with its HTTP requests counted."""

from __future__ import annotations

from pathlib import Path

from dnsauto_bunny.testing import KEY, TYPES, FakeBunny

from dnsauto.testing.cli import DOMAIN, SyncRun, assert_published, write_sync_config
from dnsauto.testing.fake_http import Fault

FOREIGN = [
    {"Type": TYPES["TXT"], "Name": "", "Value": "google-site-verification=abc", "Ttl": 300},
    {"Type": TYPES["TXT"], "Name": "", "Value": "v=spf1 include:_spf.example.net ~all", "Ttl": 300},
    {"Type": TYPES["CAA"], "Name": "", "Flags": 0, "Tag": "issue", "Value": "digicert.com",
     "Ttl": 300},
    {"Type": TYPES["A"], "Name": "www", "Value": "192.0.2.1", "Ttl": 300},
]  # fmt: skip

SERVER = """
"@type" = "Bunny"
description = "fake Bunny"
secret = { "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_BUNNY_KEY" }
"""


def dnsauto(config: Path, fake: FakeBunny) -> SyncRun:
    env = {"DNSAUTO_API_URL_BUNNY": fake.base_url, "DNSAUTO_TEST_BUNNY_KEY": KEY}
    return SyncRun(config, env=env, secret=KEY)


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakeBunny() as fake:
        zone_id = fake.add_zone(DOMAIN)
        for record in FOREIGN:
            fake.add_record(zone_id, record)
        run = dnsauto(config, fake)
        await run.sync()
        assert_published(
            {(r["Type"], r["Name"]) for r in fake.records(zone_id)},
            lambda rdtype, label: (TYPES[rdtype], label),
        )
        first_publish, created = len(fake.requests), fake.count("PUT")
        listing = first_publish - fake.writes()
        assert fake.count("DELETE") == 0
        assert created == len(fake.records(zone_id)) - len(FOREIGN)
        # one request per record written: the new ones, and the foreign SPF that dnsauto's
        # SPF is merged into
        updated = fake.count("POST")
        assert fake.writes() == created + updated
        assert updated <= 1
        assert listing == 2  # the zones, then the zone with its records

        await run.sync()
        resync = len(fake.requests) - first_publish
        assert fake.writes() == created + updated
        assert resync == 2

        values = [r["Value"] for r in fake.records(zone_id)]
        assert "google-site-verification=abc" in values
        assert "192.0.2.1" in values
        assert "digicert.com" in values
        print(f"\nBunny requests: first publish {first_publish} ({created} created, {updated}"
              f" updated, {listing} listing), unchanged re-sync {resync}")  # fmt: skip


async def test_an_add_refused_mid_sync_is_reported_and_journaled_and_the_next_sync_completes(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakeBunny() as fake:
        zone_id = fake.add_zone(DOMAIN)
        refused = {"ErrorKey": "validation_error", "Field": "Value", "Message": "Invalid value"}
        fake.fail_next(Fault(match="PUT", status=400, body=refused))
        run = dnsauto(config, fake)
        domain = await run.sync(ok=False)
        assert "Invalid value (Value)" in domain["error"]
        journal = await run.run("journal")
        assert [e["status"] for e in journal].count("failed") == 1
        assert fake.records(zone_id) == []  # the refused RRset was the first change

        await run.sync()
        assert (TYPES["MX"], "") in {(r["Type"], r["Name"]) for r in fake.records(zone_id)}
