"""``dnsauto sync`` end to end against the fake Cloudflare API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnsauto_cloudflare.testing import TOKEN, FakeCloudflare

from dnsauto.testing.cli import dnsauto_json

DOMAIN = "example.com"
FOREIGN = [
    {"type": "TXT", "name": DOMAIN, "content": '"google-site-verification=abc"'},
    {"type": "TXT", "name": DOMAIN, "content": '"v=spf1 include:_spf.example.net ~all"'},
    {"type": "CAA", "name": DOMAIN, "data": {"flags": 0, "tag": "issue", "value": "digicert.com"}},
    {"type": "A", "name": f"www.{DOMAIN}", "content": "192.0.2.1"},
]


def config_text(state: Path) -> str:
    return f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"

[bootstrap.dnsServer]
"@type" = "Cloudflare"
description = "fake Cloudflare"
secret = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_CF_TOKEN" }}

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


async def sync(config: Path, fake: FakeCloudflare) -> dict[str, Any]:
    env = {
        "DNSAUTO_API_URL_CLOUDFLARE": fake.base_url,
        "DNSAUTO_TEST_CF_TOKEN": TOKEN,
    }
    report: dict[str, Any] = await dnsauto_json(config, "sync", "--no-wait", env=env, secret=TOKEN)
    return report


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeCloudflare() as fake:
        zone_id = fake.add_zone(DOMAIN)
        for record in FOREIGN:
            fake.add_record(zone_id, record)
        first = await sync(config, fake)
        (domain,) = first["domains"]
        assert domain["error"] is None
        published = {(r["type"], r["name"]) for r in fake.records(zone_id)}
        for rdtype, name in [
            ("MX", DOMAIN), ("TXT", f"_dmarc.{DOMAIN}"), ("TXT", f"_mta-sts.{DOMAIN}"),
            ("CNAME", f"autoconfig.{DOMAIN}"), ("SRV", f"_imaps._tcp.{DOMAIN}"),
        ]:  # fmt: skip
            assert (rdtype, name) in published, (rdtype, name)
        batches = fake.count("POST", "batch")

        second = await sync(config, fake)
        (again,) = second["domains"]
        assert again["error"] is None
        assert fake.count("POST", "batch") == batches
        assert fake.count("POST") == batches

        contents = [r.get("content") for r in fake.records(zone_id)]
        assert '"google-site-verification=abc"' in contents
        assert "192.0.2.1" in contents
        assert any(r["type"] == "CAA" and r["data"]["value"] == "digicert.com"
                   for r in fake.records(zone_id))  # fmt: skip
