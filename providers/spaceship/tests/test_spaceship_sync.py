"""``dnsauto sync`` end to end against the fake Spaceship API."""

from __future__ import annotations

from pathlib import Path

from dnsauto_spaceship.testing import API_KEY, API_SECRET, FakeSpaceship

from dnsauto.testing.cli import DOMAIN, SyncRun, assert_published, write_sync_config

FOREIGN = [
    {"type": "TXT", "name": "@", "ttl": 3600, "value": "google-site-verification=abc"},
    {"type": "CAA", "name": "@", "ttl": 3600, "flag": 0, "tag": "issue", "value": "digicert.com"},
    {"type": "A", "name": "www", "ttl": 3600, "address": "192.0.2.1"},
]
SERVER = f"""
"@type" = "Spaceship"
description = "fake Spaceship"
apiKey = "{API_KEY}"
secret = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_SPACESHIP_SECRET" }}
"""


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakeSpaceship() as fake:
        env = {"DNSAUTO_API_URL_SPACESHIP": fake.base_url,
               "DNSAUTO_TEST_SPACESHIP_SECRET": API_SECRET}  # fmt: skip
        run = SyncRun(config, env=env, secret=API_SECRET)
        fake.add_domain(DOMAIN)
        for record in FOREIGN:
            fake.add_record(DOMAIN, record)
        await run.sync()
        # Spaceship names an SRV record by its domain: service and protocol are fields of it
        assert_published(
            {(r["type"], r["name"]) for r in fake.records(DOMAIN)},
            lambda rdtype, label: (rdtype, "@" if rdtype == "SRV" else label or "@"),
        )
        # Every change of the sync in one PUT; the foreign apex TXT, which dnsauto's SPF value
        # joins, re-timed to the DnsServer's TTL in the same PUT; nothing deleted.
        methods = [r.method for r in fake.requests]
        assert methods == ["GET", "GET", "PUT"]  # the domains, the records, the upsert
        assert {
            r["ttl"] for r in fake.records(DOMAIN) if r["type"] != "CAA" and r["name"] != "www"
        } == {300}

        await run.sync()
        assert [r.method for r in fake.requests[3:]] == ["GET", "GET"]  # the listing only

        values = [r.get("value") or r.get("address") for r in fake.records(DOMAIN)]
        assert "google-site-verification=abc" in values
        assert "v=spf1 mx -all" in values
        assert "192.0.2.1" in values
        assert "digicert.com" in values
