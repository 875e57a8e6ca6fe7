"""``dnsauto sync`` end to end against moto in server mode (through the counting proxy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from route53_helpers import KEY_ID, SECRET, Route53Proxy, records, xml_fault

from dnsauto.testing.cli import dnsauto_json

DOMAIN = "example.com"
FOREIGN = [
    ("example.com.", "TXT", ['"google-site-verification=abc"', '"v=spf1 mx ~all"']),
    ("example.com.", "CAA", ['0 issue "digicert.com"']),
    ("www.example.com.", "A", ["192.0.2.1"]),
]  # fmt: skip


def config_text(state: Path) -> str:
    return f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"

[bootstrap.dnsServer]
"@type" = "Route53"
description = "moto"
accessKeyId = "{KEY_ID}"
secretAccessKey = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_R53_SECRET" }}
sessionToken = {{ "@type" = "None" }}

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


async def dnsauto(config: Path, proxy: Route53Proxy, *args: str, ok: bool = True) -> Any:
    env = {"DNSAUTO_API_URL_ROUTE53": proxy.base_url, "DNSAUTO_TEST_R53_SECRET": SECRET}
    return await dnsauto_json(config, *args, env=env, secret=SECRET, ok=ok)


def add_foreign(moto: Any) -> None:
    changes = [{"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": rdtype,
                "TTL": 300, "ResourceRecords": [{"Value": v} for v in values]}}
               for name, rdtype, values in FOREIGN]  # fmt: skip
    moto.change_resource_record_sets(HostedZoneId=moto.zone_id, ChangeBatch={"Changes": changes})


async def test_sync_publishes_the_mail_records_in_one_batch_then_changes_nothing(
    tmp_path: Path, moto: Any, proxy: Route53Proxy
) -> None:
    add_foreign(moto)
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    (domain,) = (await dnsauto(config, proxy, "sync", "--no-wait"))["domains"]
    assert domain["error"] is None
    zone = records(moto, moto.zone_id)
    for rdtype, name in [("MX", ""), ("TXT", "_dmarc."), ("TXT", "_mta-sts."),
                         ("CNAME", "autoconfig."), ("SRV", "_imaps._tcp.")]:  # fmt: skip
        assert (f"{name}{DOMAIN}.", rdtype) in zone, (rdtype, name)
    first = proxy.operations()
    assert first == ["ListHostedZonesByName", "ListResourceRecordSets", "ChangeResourceRecordSets"]

    (again,) = (await dnsauto(config, proxy, "sync", "--no-wait"))["domains"]
    assert again["error"] is None
    resync = proxy.operations()[len(first) :]
    assert resync == ["ListHostedZonesByName", "ListResourceRecordSets"]

    zone = records(moto, moto.zone_id)
    apex_txt = zone[("example.com.", "TXT")]
    assert '"google-site-verification=abc"' in apex_txt
    assert any("v=spf1 mx" in v for v in apex_txt)
    assert '0 issue "digicert.com"' in zone[("example.com.", "CAA")]
    assert zone[("www.example.com.", "A")] == ["192.0.2.1"]
    print(f"\nRoute53 requests: first sync {len(first)} ({', '.join(first)}), "
          f"unchanged re-sync {len(resync)}")  # fmt: skip


async def test_refused_credentials_fail_the_sync_naming_the_fields_and_the_next_sync_works(
    tmp_path: Path, moto: Any, proxy: Route53Proxy
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    message = "The security token included in the request is invalid."
    proxy.fail_next(xml_fault("hostedzonesbyname", "InvalidClientTokenId", message, status=403))
    (domain,) = (await dnsauto(config, proxy, "sync", "--no-wait", ok=False))["domains"]
    assert "InvalidClientTokenId" in domain["error"]
    assert "'secretAccessKey'" in domain["error"]
    assert proxy.operations() == ["ListHostedZonesByName"]  # permanent: not retried
    (again,) = (await dnsauto(config, proxy, "sync", "--no-wait"))["domains"]
    assert again["error"] is None
    assert (f"{DOMAIN}.", "MX") in records(moto, moto.zone_id)
