"""``dnsauto sync`` end to end against the fake DigitalOcean API."""

from __future__ import annotations

from pathlib import Path

from dnsauto_digitalocean.testing import TOKEN, FakeDigitalOcean

from dnsauto.testing.cli import DOMAIN, SyncRun, assert_published, write_sync_config

FOREIGN = [
    {"type": "TXT", "name": "@", "data": "google-site-verification=abc"},
    {"type": "CAA", "name": "@", "data": "digicert.com", "flags": 0, "tag": "issue"},
    {"type": "A", "name": "www", "data": "192.0.2.1"},
]

SERVER = """
"@type" = "DigitalOcean"
description = "fake DigitalOcean"
secret = { "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_DO_TOKEN" }
"""


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakeDigitalOcean() as fake:
        env = {"DNSAUTO_API_URL_DIGITALOCEAN": fake.base_url, "DNSAUTO_TEST_DO_TOKEN": TOKEN}
        run = SyncRun(config, env=env, secret=TOKEN)
        fake.add_domain(DOMAIN)
        for record in FOREIGN:
            fake.add_record(DOMAIN, record)
        before = len(fake.records(DOMAIN))
        await run.sync()
        assert_published(
            {(r["type"], r["name"]) for r in fake.records(DOMAIN)},
            lambda rdtype, label: (rdtype, label or "@"),
        )
        created = len(fake.records(DOMAIN)) - before
        # One request per changed record: a POST per new one, a PUT for the foreign apex TXT
        # whose RRset takes the DnsServer's TTL, nothing deleted. The foreign CAA is not touched:
        # without certificateManagement Automatic the domain publishes no CAA.
        assert (fake.count("POST"), fake.count("PUT"), fake.count("DELETE")) == (created, 1, 0)
        assert fake.count("GET") == 2  # the domains, the records (one page)
        first_requests = len(fake.requests)

        await run.sync()
        assert len(fake.requests) - first_requests == 2  # the domains, the records

        data = [r["data"] for r in fake.records(DOMAIN)]
        assert "google-site-verification=abc" in data
        assert "v=spf1 mx -all" in data
        assert "192.0.2.1" in data
        assert "digicert.com" in data
