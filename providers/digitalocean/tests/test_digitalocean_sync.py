"""``dnsauto sync`` end to end against the fake DigitalOcean API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnsauto_digitalocean.testing import TOKEN, FakeDigitalOcean

from dnsauto.testing.cli import dnsauto_json

DOMAIN = "example.com"
FOREIGN = [
    {"type": "TXT", "name": "@", "data": "google-site-verification=abc"},
    {"type": "CAA", "name": "@", "data": "digicert.com", "flags": 0, "tag": "issue"},
    {"type": "A", "name": "www", "data": "192.0.2.1"},
]


def config_text(state: Path) -> str:
    return f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"

[bootstrap.dnsServer]
"@type" = "DigitalOcean"
description = "fake DigitalOcean"
secret = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_DO_TOKEN" }}

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


async def sync(config: Path, fake: FakeDigitalOcean) -> dict[str, Any]:
    env = {"DNSAUTO_API_URL_DIGITALOCEAN": fake.base_url, "DNSAUTO_TEST_DO_TOKEN": TOKEN}
    report: dict[str, Any] = await dnsauto_json(config, "sync", "--no-wait", env=env, secret=TOKEN)
    return report


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeDigitalOcean() as fake:
        fake.add_domain(DOMAIN)
        for record in FOREIGN:
            fake.add_record(DOMAIN, record)
        before = len(fake.records(DOMAIN))
        first = await sync(config, fake)
        (domain,) = first["domains"]
        assert domain["error"] is None
        published = {(r["type"], r["name"]) for r in fake.records(DOMAIN)}
        for key in [("MX", "@"), ("TXT", "_dmarc"), ("TXT", "_mta-sts"), ("CNAME", "autoconfig"),
                    ("SRV", "_imaps._tcp")]:  # fmt: skip
            assert key in published, key
        created = len(fake.records(DOMAIN)) - before
        # One request per changed record: a POST per new one, a PUT for the foreign apex TXT
        # whose RRset takes the DnsServer's TTL, nothing deleted. The foreign CAA is not touched:
        # without certificateManagement Automatic the domain publishes no CAA.
        assert (fake.count("POST"), fake.count("PUT"), fake.count("DELETE")) == (created, 1, 0)
        assert fake.count("GET") == 2  # the domains, the records (one page)
        first_requests = len(fake.requests)

        second = await sync(config, fake)
        (again,) = second["domains"]
        assert again["error"] is None
        assert len(fake.requests) - first_requests == 2  # the domains, the records

        data = [r["data"] for r in fake.records(DOMAIN)]
        assert "google-site-verification=abc" in data
        assert "v=spf1 mx -all" in data
        assert "192.0.2.1" in data
        assert "digicert.com" in data
