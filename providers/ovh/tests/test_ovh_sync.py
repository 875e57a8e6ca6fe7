"""``dnsauto sync`` end to end against the fake OVH API, with its HTTP requests counted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dnsauto_ovh.testing import APPLICATION_KEY, APPLICATION_SECRET, CONSUMER_KEY, FakeOvh

from dnsauto.testing.cli import dnsauto_json
from dnsauto.testing.fake_http import Fault

DOMAIN = "example.com"
FOREIGN = [
    {"fieldType": "TXT", "subDomain": "", "target": '"google-site-verification=abc"', "ttl": 0},
    {"fieldType": "TXT", "subDomain": "", "target": '"v=spf1 include:_spf.example.net ~all"'},
    {"fieldType": "CAA", "subDomain": "", "target": '0 issue "digicert.com"', "ttl": 300},
    {"fieldType": "A", "subDomain": "www", "target": "192.0.2.1", "ttl": 300},
]


def config_text(state: Path) -> str:
    return f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"

[bootstrap.dnsServer]
"@type" = "Ovh"
description = "fake OVH"
ovhEndpoint = "ovh-eu"
applicationKey = "{APPLICATION_KEY}"
applicationSecret = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_OVH_AS" }}
consumerKey = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_OVH_CK" }}

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


async def dnsauto(config: Path, fake: FakeOvh, *args: str, ok: bool = True) -> Any:
    env = {"DNSAUTO_API_URL_OVH": fake.base_url, "DNSAUTO_TEST_OVH_AS": APPLICATION_SECRET,
           "DNSAUTO_TEST_OVH_CK": CONSUMER_KEY}  # fmt: skip
    return await dnsauto_json(config, *args, env=env, secret=APPLICATION_SECRET, ok=ok)


def written(fake: FakeOvh) -> int:
    return sum(1 for r in fake.requests if r.method != "GET")


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeOvh(now=lambda: time.time() + 3600) as fake:  # the server's clock is ahead
        fake.add_zone(DOMAIN)
        for record in FOREIGN:
            fake.add_record(DOMAIN, record)
        (domain,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert domain["error"] is None
        published = {(r["fieldType"], r["subDomain"]) for r in fake.published(DOMAIN)}
        for rdtype, name in [
            ("MX", ""), ("TXT", "_dmarc"), ("TXT", "_mta-sts"), ("CNAME", "autoconfig"),
            ("SRV", "_imaps._tcp"),
        ]:  # fmt: skip
            assert (rdtype, name) in published, (rdtype, name)
        first_publish, created = len(fake.requests), fake.count("POST", "/record$")
        updated, refreshes = fake.count("PUT"), fake.count("POST", "/refresh$")
        listing = first_publish - written(fake)
        assert fake.count("DELETE") == 0
        assert created == len(fake.records(DOMAIN)) - len(FOREIGN)
        # the apex TXT RRset: the foreign SPF that dnsauto's SPF is merged into, and both of its
        # records at dnsauto's TTL
        assert updated <= 2
        assert refreshes == 1  # one batch (up to 50 RRsets), one refresh
        assert listing == 3 + len(FOREIGN)  # time, zones, ids, then each record

        (again,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert again["error"] is None
        resync = len(fake.requests) - first_publish
        assert written(fake) == created + updated + refreshes
        assert resync == 3 + len(fake.records(DOMAIN))

        targets = [r["target"] for r in fake.published(DOMAIN)]
        assert '"google-site-verification=abc"' in targets
        assert "192.0.2.1" in targets
        assert '0 issue "digicert.com"' in targets
        print(f"\nOVH requests: first publish {first_publish} ({created} created, {updated}"
              f" updated, {refreshes} refresh, {listing} listing), re-sync {resync}")  # fmt: skip


async def test_a_create_refused_mid_sync_is_reported_and_journaled_and_the_next_sync_completes(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeOvh() as fake:
        fake.add_zone(DOMAIN)
        refused = {"errorCode": "INVALID_ARGUMENT", "httpCode": "400 Bad Request",
                   "message": "Invalid target"}  # fmt: skip
        fake.fail_next(Fault(match=r"POST .*/record$", status=400, body=refused))
        (domain,) = (await dnsauto(config, fake, "sync", "--no-wait", ok=False))["domains"]
        assert "Invalid target" in domain["error"]
        journal = await dnsauto(config, fake, "journal")
        statuses = [e["status"] for e in journal]
        assert statuses == ["failed"] * len(statuses)  # the refused create was the batch's first
        assert fake.records(DOMAIN) == []

        (again,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert again["error"] is None
        assert ("MX", "") in {(r["fieldType"], r["subDomain"]) for r in fake.published(DOMAIN)}
