"""``dnsauto sync`` end to end, found through the entry point, against the fake Zonebox API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnsauto_zonebox.testing import TOKEN, FakeZonebox

from dnsauto.testing.cli import dnsauto_json

DOMAIN = "example.com"
FOREIGN = {"name": "www", "type": "A", "ttl": 300, "values": ["192.0.2.1"]}

CONFIG = """
[bootstrap]
serverHostname = "mail.{domain}"
defaultDomain = "{domain}"

[bootstrap.dnsServer]
"@type" = "Zonebox"
description = "fake Zonebox"
secret = {{ "@type" = "EnvironmentVariable", variableName = "ZONEBOX_TEST_TOKEN" }}

[domain."{domain}".dnsManagement]
"@type" = "Automatic"
dnsServerId = "bootstrap"

[mailServer]
mtaStsPolicyId = "20260101"

[daemon]
stateDir = "{state}"
"""


async def sync(config: Path, fake: FakeZonebox) -> dict[str, Any]:
    env = {"DNSAUTO_API_URL_ZONEBOX": fake.base_url, "ZONEBOX_TEST_TOKEN": TOKEN}
    report: dict[str, Any] = await dnsauto_json(config, "sync", "--no-wait", env=env, secret=TOKEN)
    return report


async def test_sync_publishes_the_mail_records_keeps_foreign_ones_then_changes_nothing(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(domain=DOMAIN, state=tmp_path / "state"))
    async with FakeZonebox() as fake:
        fake.add_zone(DOMAIN)
        fake.zones[DOMAIN][("www", "A")] = dict(FOREIGN)
        (first,) = (await sync(config, fake))["domains"]
        assert first["error"] is None
        published = {(r["type"], r["name"]) for r in fake.rrsets(DOMAIN)}
        for key in [("MX", "@"), ("TXT", "_dmarc"), ("TXT", "_mta-sts"), ("SRV", "_imaps._tcp")]:
            assert key in published, key
        writes = fake.count("PUT")

        (second,) = (await sync(config, fake))["domains"]
        assert second["error"] is None
        assert fake.count("PUT") == writes
        assert fake.count("DELETE") == 0
        assert FOREIGN in fake.rrsets(DOMAIN)
