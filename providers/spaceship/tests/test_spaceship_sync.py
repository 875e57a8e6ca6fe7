"""``dnsauto sync`` end to end against the fake Spaceship API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnsauto_spaceship.testing import API_KEY, API_SECRET, FakeSpaceship

from dnsauto.testing.cli import dnsauto_json

DOMAIN = "example.com"
FOREIGN = [
    {"type": "TXT", "name": "@", "ttl": 3600, "value": "google-site-verification=abc"},
    {"type": "CAA", "name": "@", "ttl": 3600, "flag": 0, "tag": "issue", "value": "digicert.com"},
    {"type": "A", "name": "www", "ttl": 3600, "address": "192.0.2.1"},
]


def config_text(state: Path) -> str:
    return f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"

[bootstrap.dnsServer]
"@type" = "Spaceship"
description = "fake Spaceship"
apiKey = "{API_KEY}"
secret = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_SPACESHIP_SECRET" }}

[domain."{DOMAIN}".dnsManagement]
"@type" = "Automatic"
dnsServerId = "bootstrap"

[mailServer]
mtaStsPolicyId = "20260101"

[mailServer.acme]
accountUri = "https://acme.test/acct/1"

[daemon]
stateDir = "{state}"
"""


async def sync(config: Path, fake: FakeSpaceship) -> dict[str, Any]:
    env = {"DNSAUTO_API_URL_SPACESHIP": fake.base_url, "DNSAUTO_TEST_SPACESHIP_SECRET": API_SECRET}
    report: dict[str, Any] = await dnsauto_json(
        config, "sync", "--no-wait", env=env, secret=API_SECRET
    )
    return report


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeSpaceship() as fake:
        fake.add_domain(DOMAIN)
        for record in FOREIGN:
            fake.add_record(DOMAIN, record)
        first = await sync(config, fake)
        (domain,) = first["domains"]
        assert domain["error"] is None
        published = {(r["type"], r["name"]) for r in fake.records(DOMAIN)}
        for key in [("MX", "@"), ("TXT", "_dmarc"), ("TXT", "_mta-sts"), ("CNAME", "autoconfig"),
                    ("SRV", "@")]:  # fmt: skip
            assert key in published, key
        # Every change of the sync in one PUT; the foreign apex TXT, which dnsauto's SPF value
        # joins, re-timed to the DnsServer's TTL in the same PUT; nothing deleted.
        methods = [r.method for r in fake.requests]
        assert methods == ["GET", "GET", "PUT"]  # the domains, the records, the upsert
        assert {
            r["ttl"] for r in fake.records(DOMAIN) if r["type"] != "CAA" and r["name"] != "www"
        } == {300}

        second = await sync(config, fake)
        (again,) = second["domains"]
        assert again["error"] is None
        assert [r.method for r in fake.requests[3:]] == ["GET", "GET"]  # the listing only

        values = [r.get("value") or r.get("address") for r in fake.records(DOMAIN)]
        assert "google-site-verification=abc" in values
        assert "v=spf1 mx -all" in values
        assert "192.0.2.1" in values
        assert "digicert.com" in values
