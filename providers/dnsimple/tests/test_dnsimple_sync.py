"""``dnsauto sync`` end to end against the fake DNSimple API, with its HTTP requests counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnsauto_dnsimple.testing import ACCOUNT, TOKEN, FakeDnsimple

from dnsauto.testing.cli import dnsauto_json
from dnsauto.testing.fake_http import Fault

DOMAIN = "example.com"
FOREIGN = [
    {"type": "TXT", "name": "", "content": "google-site-verification=abc"},
    {"type": "TXT", "name": "", "content": "v=spf1 include:_spf.example.net ~all"},
    {"type": "CAA", "name": "", "content": '0 issue "digicert.com"'},
    {"type": "A", "name": "www", "content": "192.0.2.1"},
]


def config_text(state: Path) -> str:
    return f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"

[bootstrap.dnsServer]
"@type" = "Dnsimple"
description = "fake DNSimple"
authToken = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_DNSIMPLE_TOKEN" }}
accountIdentifier = "{ACCOUNT}"

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


async def dnsauto(config: Path, fake: FakeDnsimple, *args: str, ok: bool = True) -> Any:
    env = {
        "DNSAUTO_API_URL_DNSIMPLE": fake.base_url,
        "DNSAUTO_TEST_DNSIMPLE_TOKEN": TOKEN,
    }
    return await dnsauto_json(config, *args, env=env, secret=TOKEN, ok=ok)


def written(fake: FakeDnsimple) -> int:
    return sum(1 for r in fake.requests if r.method != "GET")


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeDnsimple() as fake:
        fake.add_zone(DOMAIN)
        for record in FOREIGN:
            fake.add_record(DOMAIN, record)
        (domain,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert domain["error"] is None
        published = {(r["type"], r["name"]) for r in fake.records(DOMAIN)}
        for rdtype, name in [
            ("MX", ""), ("TXT", "_dmarc"), ("TXT", "_mta-sts"), ("CNAME", "autoconfig"),
            ("SRV", "_imaps._tcp"),
        ]:  # fmt: skip
            assert (rdtype, name) in published, (rdtype, name)
        first_publish, created = len(fake.requests), fake.count("POST")
        listing = first_publish - written(fake)
        # one request per record written: the new ones, and the foreign ones at shared names
        # whose TTL the RRset's new TTL changes (their values are kept): the apex TXT pair; the
        # foreign CAA stays as it is (no certificateManagement Automatic, so no CAA published)
        assert fake.count("DELETE") == 0
        assert created == len(fake.records(DOMAIN)) - len(FOREIGN)
        assert written(fake) == created + fake.count("PATCH") == created + 2
        assert listing == 2  # the zones, then the records (one page each)

        (again,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert again["error"] is None
        resync = len(fake.requests) - first_publish
        assert written(fake) == created + 2
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
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeDnsimple() as fake:
        fake.add_zone(DOMAIN)
        refused = {"message": "Validation failed", "errors": {"content": ["is invalid"]}}
        fake.fail_next(Fault(match="POST", status=400, body=refused))
        (domain,) = (await dnsauto(config, fake, "sync", "--no-wait", ok=False))["domains"]
        assert "content: is invalid" in domain["error"]
        journal = await dnsauto(config, fake, "journal")
        failed = [e for e in journal if e["status"] == "failed"]
        assert len(failed) == 1
        assert fake.records(DOMAIN) == []  # the refused RRset was the first change

        (again,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert again["error"] is None
        assert ("MX", "") in {(r["type"], r["name"]) for r in fake.records(DOMAIN)}
