"""``dnsauto sync`` end to end against the fake DNSimple API, with its HTTP requests counted."""

from __future__ import annotations

from pathlib import Path

from dnsauto_dnsimple.testing import ACCOUNT, TOKEN, FakeDnsimple

from dnsauto.testing.cli import DOMAIN, SyncRun, assert_published, write_sync_config
from dnsauto.testing.fake_http import Fault

FOREIGN = [
    {"type": "TXT", "name": "", "content": "google-site-verification=abc"},
    {"type": "TXT", "name": "", "content": "v=spf1 include:_spf.example.net ~all"},
    {"type": "CAA", "name": "", "content": '0 issue "digicert.com"'},
    {"type": "A", "name": "www", "content": "192.0.2.1"},
]

SERVER = f"""
"@type" = "Dnsimple"
description = "fake DNSimple"
authToken = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_DNSIMPLE_TOKEN" }}
accountIdentifier = "{ACCOUNT}"
"""


def dnsauto(config: Path, fake: FakeDnsimple) -> SyncRun:
    env = {"DNSAUTO_API_URL_DNSIMPLE": fake.base_url, "DNSAUTO_TEST_DNSIMPLE_TOKEN": TOKEN}
    return SyncRun(config, env=env, secret=TOKEN)


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakeDnsimple() as fake:
        fake.add_zone(DOMAIN)
        for record in FOREIGN:
            fake.add_record(DOMAIN, record)
        run = dnsauto(config, fake)
        await run.sync()
        assert_published({(r["type"], r["name"]) for r in fake.records(DOMAIN)})
        first_publish, created = len(fake.requests), fake.count("POST")
        listing = first_publish - fake.writes()
        # one request per record written: the new ones, and the foreign ones at shared names
        # whose TTL the RRset's new TTL changes (their values are kept): the apex TXT pair; the
        # foreign CAA stays as it is (no certificateManagement Automatic, so no CAA published)
        assert fake.count("DELETE") == 0
        assert created == len(fake.records(DOMAIN)) - len(FOREIGN)
        assert fake.writes() == created + fake.count("PATCH") == created + 2
        assert listing == 2  # the zones, then the records (one page each)

        await run.sync()
        resync = len(fake.requests) - first_publish
        assert fake.writes() == created + 2
        assert resync == 2

        contents = [r["content"] for r in fake.records(DOMAIN)]
        assert '"google-site-verification=abc"' in contents  # rewritten quoted, for its TTL
        assert "192.0.2.1" in contents
        assert '0 issue "digicert.com"' in contents
        print(f"\nDNSimple requests: first publish {first_publish} ({created} created, 3 TTLs"
              f" rewritten, {listing} listing), unchanged re-sync {resync}")  # fmt: skip


async def test_a_create_refused_mid_sync_is_reported_and_journaled_and_the_next_sync_completes(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakeDnsimple() as fake:
        fake.add_zone(DOMAIN)
        refused = {"message": "Validation failed", "errors": {"content": ["is invalid"]}}
        fake.fail_next(Fault(match="POST", status=400, body=refused))
        run = dnsauto(config, fake)
        domain = await run.sync(ok=False)
        assert "content: is invalid" in domain["error"]
        journal = await run.run("journal")
        failed = [e for e in journal if e["status"] == "failed"]
        assert len(failed) == 1
        assert fake.records(DOMAIN) == []  # the refused RRset was the first change

        await run.sync()
        assert ("MX", "") in {(r["type"], r["name"]) for r in fake.records(DOMAIN)}
