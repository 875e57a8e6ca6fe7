"""``dnsauto sync`` end to end against the fake deSEC API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnsauto_desec.testing import TOKEN, FakeDesec

from dnsauto.testing.cli import dnsauto_json

DOMAIN = "example.com"
FOREIGN = [
    ("", "TXT", '"google-site-verification=abc"'),
    ("", "CAA", '0 issue "digicert.com"'),
    ("www", "A", "192.0.2.1"),
]


def config_text(state: Path) -> str:
    return f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"

[bootstrap.dnsServer]
"@type" = "DeSEC"
description = "fake deSEC"
secret = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_DESEC_TOKEN" }}

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


async def sync(config: Path, fake: FakeDesec) -> dict[str, Any]:
    env = {"DNSAUTO_API_URL_DESEC": fake.base_url, "DNSAUTO_TEST_DESEC_TOKEN": TOKEN}
    report: dict[str, Any] = await dnsauto_json(config, "sync", "--no-wait", env=env, secret=TOKEN)
    return report


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeDesec() as fake:
        fake.add_domain(DOMAIN, minimum_ttl=3600)
        for subname, rdtype, value in FOREIGN:
            fake.add_rrset(DOMAIN, subname, rdtype, 3600, value)
        first = await sync(config, fake)
        (domain,) = first["domains"]
        assert domain["error"] is None
        first_requests = len(fake.requests)
        published = {(r["type"], r["subname"]): r for r in fake.rrsets(DOMAIN)}
        for key in [("MX", ""), ("TXT", "_dmarc"), ("TXT", "_mta-sts"), ("CNAME", "autoconfig"),
                    ("SRV", "_imaps._tcp")]:  # fmt: skip
            assert key in published, key
            assert published[key]["ttl"] == 3600
        assert any("published with 3600s" in w for w in domain["warnings"])
        assert fake.count("PATCH") == 1
        assert first_requests == 3  # the domain, its RRsets, one bulk write

        second = await sync(config, fake)
        (again,) = second["domains"]
        assert again["error"] is None
        assert fake.count("PATCH") == 1
        assert len(fake.requests) - first_requests == 2  # the domain, its RRsets

        apex_txt = published[("TXT", "")]["records"]
        assert '"google-site-verification=abc"' in apex_txt
        assert '"v=spf1 mx -all"' in apex_txt
        assert published[("A", "www")]["records"] == ["192.0.2.1"]
        assert '0 issue "digicert.com"' in published[("CAA", "")]["records"]
