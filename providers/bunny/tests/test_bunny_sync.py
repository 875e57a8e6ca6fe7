"""``dnsauto sync`` end to end against the fake Bunny API, with its HTTP requests counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnsauto_bunny.testing import KEY, TYPES, FakeBunny

from dnsauto.testing.cli import dnsauto_json
from dnsauto.testing.fake_http import Fault

DOMAIN = "example.com"
FOREIGN = [
    {"Type": TYPES["TXT"], "Name": "", "Value": "google-site-verification=abc", "Ttl": 300},
    {"Type": TYPES["TXT"], "Name": "", "Value": "v=spf1 include:_spf.example.net ~all", "Ttl": 300},
    {"Type": TYPES["CAA"], "Name": "", "Flags": 0, "Tag": "issue", "Value": "digicert.com",
     "Ttl": 300},
    {"Type": TYPES["A"], "Name": "www", "Value": "192.0.2.1", "Ttl": 300},
]  # fmt: skip


def config_text(state: Path) -> str:
    return f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"

[bootstrap.dnsServer]
"@type" = "Bunny"
description = "fake Bunny"
secret = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_BUNNY_KEY" }}

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


async def dnsauto(config: Path, fake: FakeBunny, *args: str, ok: bool = True) -> Any:
    env = {"DNSAUTO_API_URL_BUNNY": fake.base_url, "DNSAUTO_TEST_BUNNY_KEY": KEY}
    return await dnsauto_json(config, *args, env=env, secret=KEY, ok=ok)


def written(fake: FakeBunny) -> int:
    return sum(1 for r in fake.requests if r.method != "GET")


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeBunny() as fake:
        zone_id = fake.add_zone(DOMAIN)
        for record in FOREIGN:
            fake.add_record(zone_id, record)
        (domain,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert domain["error"] is None
        published = {(r["Type"], r["Name"]) for r in fake.records(zone_id)}
        for rdtype, name in [
            ("MX", ""), ("TXT", "_dmarc"), ("TXT", "_mta-sts"), ("CNAME", "autoconfig"),
            ("SRV", "_imaps._tcp"),
        ]:  # fmt: skip
            assert (TYPES[rdtype], name) in published, (rdtype, name)
        first_publish, created = len(fake.requests), fake.count("PUT")
        listing = first_publish - written(fake)
        assert fake.count("DELETE") == 0
        assert created == len(fake.records(zone_id)) - len(FOREIGN)
        # one request per record written: the new ones, and the foreign SPF that dnsauto's
        # SPF is merged into
        updated = fake.count("POST")
        assert written(fake) == created + updated
        assert updated <= 1
        assert listing == 2  # the zones, then the zone with its records

        (again,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert again["error"] is None
        resync = len(fake.requests) - first_publish
        assert written(fake) == created + updated
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
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeBunny() as fake:
        zone_id = fake.add_zone(DOMAIN)
        refused = {"ErrorKey": "validation_error", "Field": "Value", "Message": "Invalid value"}
        fake.fail_next(Fault(match="PUT", status=400, body=refused))
        (domain,) = (await dnsauto(config, fake, "sync", "--no-wait", ok=False))["domains"]
        assert "Invalid value (Value)" in domain["error"]
        journal = await dnsauto(config, fake, "journal")
        assert [e["status"] for e in journal].count("failed") == 1
        assert fake.records(zone_id) == []  # the refused RRset was the first change

        (again,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert again["error"] is None
        assert (TYPES["MX"], "") in {(r["Type"], r["Name"]) for r in fake.records(zone_id)}
