"""``dnsauto sync`` end to end against the fake deSEC API."""

from __future__ import annotations

from pathlib import Path

from dnsauto_desec.testing import TOKEN, FakeDesec

from dnsauto.testing.cli import DOMAIN, MAIL_RECORDS, SyncRun, write_sync_config

FOREIGN = [
    ("", "TXT", '"google-site-verification=abc"'),
    ("", "CAA", '0 issue "digicert.com"'),
    ("www", "A", "192.0.2.1"),
]

SERVER = """
"@type" = "DeSEC"
description = "fake deSEC"
secret = { "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_DESEC_TOKEN" }
"""


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakeDesec() as fake:
        env = {"DNSAUTO_API_URL_DESEC": fake.base_url, "DNSAUTO_TEST_DESEC_TOKEN": TOKEN}
        run = SyncRun(config, env=env, secret=TOKEN)
        fake.add_domain(DOMAIN, minimum_ttl=3600)
        for subname, rdtype, value in FOREIGN:
            fake.add_rrset(DOMAIN, subname, rdtype, 3600, value)
        domain = await run.sync()
        first_requests = len(fake.requests)
        published = {(r["type"], r["subname"]): r for r in fake.rrsets(DOMAIN)}
        for key in MAIL_RECORDS:
            assert key in published, key
            assert published[key]["ttl"] == 3600
        assert any("published with 3600s" in w for w in domain["warnings"])
        assert fake.count("PATCH") == 1
        # the domain, its RRsets, the account's domains (zones below), one bulk write
        assert first_requests == 4

        await run.sync()
        assert fake.count("PATCH") == 1
        assert len(fake.requests) - first_requests == 3  # the domain, its RRsets, its domains

        apex_txt = published[("TXT", "")]["records"]
        assert '"google-site-verification=abc"' in apex_txt
        assert '"v=spf1 mx -all"' in apex_txt
        assert published[("A", "www")]["records"] == ["192.0.2.1"]
        assert '0 issue "digicert.com"' in published[("CAA", "")]["records"]
