"""`dnsauto sync` end to end with a Tsig config against real BIND, Knot and PowerDNS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest

from dnsauto.testing.servers import RunningServer

pytestmark = pytest.mark.servers

DOMAIN = "sub.example.test"
FOREIGN = [
    (DOMAIN, "TXT", '"google-site-verification=abc"'),
    (DOMAIN, "TXT", '"v=spf1 include:_spf.example.net ~all"'),
    (DOMAIN, "CAA", '0 issue "digicert.com"'),
    (f"www.{DOMAIN}", "A", "192.0.2.1"),
]


def config_text(server: RunningServer, state: Path) -> str:
    key = server.key("hmac-sha256")
    return f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"

[bootstrap.dnsServer]
"@type" = "Tsig"
description = "test {server.kind}"
host = "{server.host}"
port = {server.port}
keyName = "{key.bare_name}"
key = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_TSIG" }}
tsigAlgorithm = "hmac-sha256"
pollingInterval = "200ms"
propagationTimeout = "10s"

[domain."{DOMAIN}".dnsManagement]
"@type" = "Automatic"
dnsServerId = "bootstrap"

[domain."{DOMAIN}".certificateManagement]
"@type" = "Automatic"

[mailServer]
mtaStsPolicyId = "20260101"

[mailServer.acme]
accountUri = "https://acme.test/acct/1"

[daemon]
stateDir = "{state}"

[daemon.dns]
authoritativeServers = ["{server.host}:{server.port}"]
"""


def dnsauto(config: Path, server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DNSAUTO_TEST_TSIG": server.key("hmac-sha256").secret}
    return subprocess.run(
        [sys.executable, "-m", "dnsauto", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def served(server: RunningServer, name: str, rdtype: str) -> set[str]:
    query = dns.message.make_query(name, rdtype)
    response = dns.query.tcp(query, server.host, port=server.port, timeout=5)
    rrset = response.get_rrset(
        response.answer,
        dns.name.from_text(name),
        dns.rdataclass.IN,
        dns.rdatatype.from_text(rdtype),
    )
    return {r.to_text() for r in rrset} if rrset is not None else set()


def put_foreign_records(server: RunningServer) -> None:
    key = server.key("hmac-sha256")
    keyring = dns.tsigkeyring.from_text({key.bare_name: ("hmac-sha256", key.secret)})
    update = dns.update.UpdateMessage(DOMAIN + ".", keyring=keyring)
    for name, rdtype, _ in FOREIGN:
        update.delete(name + ".", rdtype)
    for name, rdtype, value in FOREIGN:
        update.add(name + ".", 300, rdtype, value)
    response = dns.query.tcp(update, server.host, port=server.port, timeout=5)
    assert response.rcode() == 0


@pytest.fixture
def published(
    dns_server: RunningServer, tmp_path: Path
) -> tuple[RunningServer, Path, dict[str, object]]:
    put_foreign_records(dns_server)
    config = tmp_path / "config.toml"
    config.write_text(config_text(dns_server, tmp_path / "state"))
    result = dnsauto(config, dns_server, "sync", "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    return dns_server, config, json.loads(result.stdout)


def test_sync_publishes_every_desired_rrset_and_waits_until_it_is_served(
    published: tuple[RunningServer, Path, dict[str, object]],
) -> None:
    server, config, report = published
    (domain,) = report["domains"]  # type: ignore[index]
    assert domain["error"] is None
    assert domain["propagated"] is True
    assert domain["changes"] > 10
    desired = json.loads(dnsauto(config, server, "records", "--format", "json").stdout)
    for record in desired:
        live = served(server, record["name"], record["type"])
        wanted = {v for v in record["values"] if not v.startswith('"v=spf1')}
        assert wanted <= live, record


def test_second_sync_reports_zero_changes(
    published: tuple[RunningServer, Path, dict[str, object]],
) -> None:
    server, config, _ = published
    again = dnsauto(config, server, "sync", "--json")
    assert again.returncode == 0, again.stderr
    (domain,) = json.loads(again.stdout)["domains"]
    assert domain["changes"] == 0


def test_foreign_records_at_shared_names_survive_and_spf_is_merged(
    published: tuple[RunningServer, Path, dict[str, object]],
) -> None:
    server, _, _ = published
    apex_txt = served(server, DOMAIN + ".", "TXT")
    assert '"google-site-verification=abc"' in apex_txt
    assert '"v=spf1 include:_spf.example.net mx ~all"' in apex_txt
    assert len([t for t in apex_txt if "v=spf1" in t]) == 1
    caa = served(server, DOMAIN + ".", "CAA")
    assert '0 issue "digicert.com"' in caa
    assert '0 issue "letsencrypt.org;accounturi=https://acme.test/acct/1"' in caa
    assert served(server, f"www.{DOMAIN}.", "A") == {"192.0.2.1"}


def test_dnsauto_check_confirms_the_published_records(
    published: tuple[RunningServer, Path, dict[str, object]],
) -> None:
    server, config, _ = published
    result = dnsauto(config, server, "check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    (domain,) = json.loads(result.stdout)["domains"]
    assert domain["live"] is True


def test_a_domain_in_a_signed_zone_is_published_proven_and_then_left_unchanged(
    signed_bind_server: RunningServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(signed_bind_server, tmp_path / "state"))
    first = dnsauto(config, signed_bind_server, "sync", "--json")
    assert first.returncode == 0, first.stderr + first.stdout
    (domain,) = json.loads(first.stdout)["domains"]
    assert (domain["error"], domain["propagated"]) == (None, True)
    assert domain["changes"] > 10
    assert served(signed_bind_server, f"_dmarc.{DOMAIN}.", "TXT")
    again = dnsauto(config, signed_bind_server, "sync", "--json", "--dry-run")  # reads in full
    assert again.returncode == 0, again.stderr + again.stdout
    (domain,) = json.loads(again.stdout)["domains"]
    assert (domain["error"], domain["changes"]) == (None, 0)
