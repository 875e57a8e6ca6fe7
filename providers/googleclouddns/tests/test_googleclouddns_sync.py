"""``dnsauto sync`` end to end against the fake Cloud DNS API, with its HTTP requests counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnsauto_googleclouddns.testing import PROJECT, FakeCloudDns, service_account_json
from googleclouddns_helpers import served

from dnsauto.testing.authoritative import AuthoritativeServer
from dnsauto.testing.cli import DOMAIN, dnsauto_json, sync_config
from dnsauto.testing.fake_http import Fault

ZONE_ID = "example-com"
FOREIGN = [
    ("example.com.", "TXT", ['"google-site-verification=abc"', '"v=spf1 include:_spf.x ~all"']),
    ("example.com.", "CAA", ['0 issue "digicert.com"']),
    ("www.example.com.", "A", ["192.0.2.1"]),
]

SERVER = f"""
"@type" = "GoogleCloudDns"
description = "fake Cloud DNS"
serviceAccountJson = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_GCLOUD_SA" }}
projectId = "{PROJECT}"
"""


def config_text(state: Path, nameserver: str = "") -> str:
    """The configuration; with ``nameserver`` (host:port) the propagation check asks it, and
    changes.get and the nameserver are polled every 20 ms (after changes.get's first 0.5 s)."""
    polling = 'pollingInterval = "20ms"\npropagationTimeout = "60s"' if nameserver else ""
    asked = f'[daemon.dns]\nauthoritativeServers = ["{nameserver}"]' if nameserver else ""
    return sync_config(state, f"{SERVER}\n{polling}", extra=asked)


async def dnsauto(config: Path, fake: FakeCloudDns, *args: str, ok: bool = True) -> Any:
    sa = service_account_json(fake.token_uri)
    env = {"DNSAUTO_API_URL_GOOGLECLOUDDNS": fake.base_url, "DNSAUTO_TEST_GCLOUD_SA": sa}
    key_line = sa.split("\\n")[2]  # a line of the private key
    return await dnsauto_json(config, *args, env=env, secret=key_line, ok=ok)


def keys(fake: FakeCloudDns) -> set[tuple[str, str]]:
    return set(fake.zones[ZONE_ID].rrsets)


async def test_sync_publishes_the_mail_records_in_one_change_then_changes_nothing(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeCloudDns() as fake:
        fake.add_zone(DOMAIN)
        for name, rdtype, rrdatas in FOREIGN:
            fake.add_rrset(ZONE_ID, name, rdtype, rrdatas, 3600)
        (domain,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert domain["error"] is None
        for key in [("example.com.", "MX"), ("_dmarc.example.com.", "TXT"),
                    ("_mta-sts.example.com.", "TXT"), ("autoconfig.example.com.", "CNAME"),
                    ("_imaps._tcp.example.com.", "SRV")]:  # fmt: skip
            assert key in keys(fake), key
        first = len(fake.requests)
        (change,) = [r.body for r in fake.requests if r.method == "POST" and "/changes" in r.path]
        # the apex TXT is shared: its foreign values are kept, the RRset rewritten as read
        (apex_txt,) = [d for d in change["deletions"] if d["name"] == "example.com."]
        assert apex_txt["rrdatas"] == FOREIGN[0][2]
        assert fake.count("POST", "^/token$") == 1
        assert first == 4  # token, zones, rrsets (one page), one change

        (again,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert again["error"] is None
        resync = len(fake.requests) - first
        assert fake.count("POST", "/changes$") == 1
        assert resync == 3  # token, zones, rrsets

        rrsets = fake.zones[ZONE_ID].rrsets
        assert '"google-site-verification=abc"' in rrsets[("example.com.", "TXT")]["rrdatas"]
        assert rrsets[("www.example.com.", "A")]["rrdatas"] == ["192.0.2.1"]
        assert rrsets[("example.com.", "CAA")]["rrdatas"] == ['0 issue "digicert.com"']
        print(f"\nGoogle Cloud DNS requests: first publish {first}, unchanged re-sync {resync}")


async def test_a_change_refused_mid_sync_is_reported_and_the_next_sync_completes(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path / "state"))
    async with FakeCloudDns() as fake:
        fake.add_zone(DOMAIN)
        refused = {"error": {"code": 400, "message": "Invalid value for 'entity.change'",
                             "errors": []}}  # fmt: skip
        fake.fail_next(Fault(match="POST .*/changes$", status=400, body=refused))
        (domain,) = (await dnsauto(config, fake, "sync", "--no-wait", ok=False))["domains"]
        assert "Invalid value for 'entity.change'" in domain["error"]
        assert keys(fake) == {("example.com.", "NS"), ("example.com.", "SOA")}

        (again,) = (await dnsauto(config, fake, "sync", "--no-wait"))["domains"]
        assert again["error"] is None
        assert ("example.com.", "MX") in keys(fake)


async def test_sync_waits_for_done_before_asking_the_nameservers_then_sees_them_live(
    tmp_path: Path,
) -> None:
    """The change stays pending for three changes.get reads; the nameserver serves the zone as
    it was until the change is done, and then what the fake holds."""
    config = tmp_path / "config.toml"
    async with FakeCloudDns() as fake:
        fake.add_zone(DOMAIN)
        fake.pending_polls = 3
        before = served(fake)

        def published() -> list[Any]:
            changes = fake.zones[ZONE_ID].changes
            return served(fake) if changes and fake.done_at.keys() == changes.keys() else before

        with AuthoritativeServer(f"{DOMAIN}.", published) as nameserver:
            config.write_text(config_text(tmp_path / "state", nameserver.address))
            (domain,) = (await dnsauto(config, fake, "sync"))["domains"]
        assert domain["error"] is None
        assert domain["propagated"] is True
        assert domain["lagging"] == []
        (change_id,) = fake.zones[ZONE_ID].changes
        assert fake.count("GET", f"/changes/{change_id}$") == 4
        asked = nameserver.queries
        assert {(q.name.to_text(), q.rdtype.name) for q in asked} >= {
            (f"{DOMAIN}.", "MX"),
            (f"_dmarc.{DOMAIN}.", "TXT"),
            (f"_imaps._tcp.{DOMAIN}.", "SRV"),
        }
        assert asked[0].at > fake.done_at[change_id]
