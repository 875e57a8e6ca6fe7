"""``dnsauto sync`` end to end against moto in server mode (through the counting proxy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from route53_helpers import KEY_ID, SECRET, ZONE, Route53Proxy, records, served, xml_fault

from dnsauto.testing.authoritative import AuthoritativeServer
from dnsauto.testing.cli import DOMAIN, dnsauto_json, sync_config

FOREIGN = [
    ("example.com.", "TXT", ['"google-site-verification=abc"', '"v=spf1 mx ~all"']),
    ("example.com.", "CAA", ['0 issue "digicert.com"']),
    ("www.example.com.", "A", ["192.0.2.1"]),
]  # fmt: skip

SERVER = f"""
"@type" = "Route53"
description = "moto"
accessKeyId = "{KEY_ID}"
secretAccessKey = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_R53_SECRET" }}
sessionToken = {{ "@type" = "None" }}
"""


def config_text(state: Path, nameserver: str = "") -> str:
    """The configuration; with ``nameserver`` (host:port) the propagation check asks it, and
    GetChange and the nameserver are polled every 20 ms."""
    polling = 'pollingInterval = "20ms"\npropagationTimeout = "60s"' if nameserver else ""
    asked = f'[daemon.dns]\nauthoritativeServers = ["{nameserver}"]' if nameserver else ""
    return sync_config(state, f"{SERVER}\n{polling}", extra=asked)


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


async def test_sync_waits_for_insync_before_asking_the_nameservers_then_sees_them_live(
    tmp_path: Path, moto: Any, proxy: Route53Proxy
) -> None:
    """The change stays PENDING for three GetChange polls; the nameserver serves the zone as it
    was until the change is INSYNC, and then what moto holds."""
    proxy.pending_polls = 3
    before = served(moto, moto.zone_id)

    def published() -> list[Any]:
        live = proxy.polls and proxy.insync_at.keys() == proxy.polls.keys()
        return served(moto, moto.zone_id) if live else before

    config = tmp_path / "config.toml"
    with AuthoritativeServer(ZONE, published) as nameserver:
        config.write_text(config_text(tmp_path / "state", nameserver.address))
        (domain,) = (await dnsauto(config, proxy, "sync"))["domains"]
    assert domain["error"] is None
    assert domain["propagated"] is True
    assert domain["lagging"] == []
    (change_id,) = proxy.polls
    assert proxy.operations() == ["ListHostedZonesByName", "ListResourceRecordSets",
                                  "ChangeResourceRecordSets"] + ["GetChange"] * 4  # fmt: skip
    asked = nameserver.queries
    assert {(q.name.to_text(), q.rdtype.name) for q in asked} >= {
        (f"{DOMAIN}.", "MX"),
        (f"_dmarc.{DOMAIN}.", "TXT"),
        (f"_imaps._tcp.{DOMAIN}.", "SRV"),
    }
    assert asked[0].at > proxy.insync_at[change_id]
