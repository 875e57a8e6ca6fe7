"""``dnsauto sync`` end to end against the fake Cloudflare API."""

from __future__ import annotations

from pathlib import Path

from dnsauto_cloudflare.testing import TOKEN, FakeCloudflare

from dnsauto.testing.cli import DOMAIN, SyncRun, assert_published, write_sync_config

FOREIGN = [
    {"type": "TXT", "name": DOMAIN, "content": '"google-site-verification=abc"'},
    {"type": "TXT", "name": DOMAIN, "content": '"v=spf1 include:_spf.example.net ~all"'},
    {"type": "CAA", "name": DOMAIN, "data": {"flags": 0, "tag": "issue", "value": "digicert.com"}},
    {"type": "A", "name": f"www.{DOMAIN}", "content": "192.0.2.1"},
]

SERVER = """
"@type" = "Cloudflare"
description = "fake Cloudflare"
secret = { "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_CF_TOKEN" }
"""


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakeCloudflare() as fake:
        env = {"DNSAUTO_API_URL_CLOUDFLARE": fake.base_url, "DNSAUTO_TEST_CF_TOKEN": TOKEN}
        run = SyncRun(config, env=env, secret=TOKEN)
        zone_id = fake.add_zone(DOMAIN)
        for record in FOREIGN:
            fake.add_record(zone_id, record)
        await run.sync()
        assert_published(
            {(r["type"], r["name"]) for r in fake.records(zone_id)},
            lambda rdtype, label: (rdtype, f"{label}.{DOMAIN}" if label else DOMAIN),
        )
        batches = fake.count("POST", "batch")

        await run.sync()
        assert fake.count("POST", "batch") == batches
        assert fake.count("POST") == batches

        contents = [r.get("content") for r in fake.records(zone_id)]
        assert '"google-site-verification=abc"' in contents
        assert "192.0.2.1" in contents
        assert any(r["type"] == "CAA" and r["data"]["value"] == "digicert.com"
                   for r in fake.records(zone_id))  # fmt: skip
