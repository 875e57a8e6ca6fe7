"""Stalwart's JSON, as its schema and docs write it, is taken by the file and by
``dnsauto create/update``, and comes back as it went in.

The documents below are written from Stalwart's registry schema (``crates/registry/src/schema``,
v0.16: ``Map<T>`` sets as objects of ``true``, durations in milliseconds, ``SecretText``'s
``Text``) and ../shared/reference/stalwart.md, not from dnsauto's output.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dnsauto.cli import cli
from dnsauto.config.loader import load_config, load_config_file
from dnsauto.config.overlay import REVEAL, apply_patch
from dnsauto.plugin.errors import ConfigError
from dnsauto.plugin.registry import Registry, load_registry
from dnsauto.plugin.types import REDACTED
from dnsauto.sync.jobs import domain_jobs
from tests.api_helpers import ApiDaemon, start_api_daemon
from tests.test_api_client import admin

SHARED = {
    "description": "Stalwart's example",
    "memberTenantId": "t1",
    "timeout": 30000,
    "ttl": 300000,
    "pollingInterval": 15000,
    "propagationTimeout": 60000,
    "propagationDelay": 5000,
}

VARIANTS: dict[str, dict[str, Any]] = {
    "Tsig": {
        "host": "192.0.2.1",
        "port": 53,
        "keyName": "example",
        "key": {"@type": "Value", "secret": "c2VjcmV0LWtleS1vZi10c2ln"},
        "protocol": "tcp",
        "tsigAlgorithm": "hmac-sha256",
    },
    "Sig0": {
        "host": "192.0.2.2",
        "port": 5353,
        "publicKey": "example.org. IN KEY 512 3 15 abcdef",
        "key": {"@type": "Text", "secret": "-----BEGIN PRIVATE KEY-----\nx\n"},
        "signerName": "example.org",
        "protocol": "udp",
        "sig0Algorithm": "ed25519",
    },
    "Cloudflare": {"email": "admin@example.org", "secret": {"@type": "Value", "secret": "cf"}},
    "DigitalOcean": {"secret": {"@type": "EnvironmentVariable", "variableName": "DO_TOKEN"}},
    "DeSEC": {"secret": {"@type": "Value", "secret": "desec"}},
    "Bunny": {"secret": {"@type": "Value", "secret": "bunny"}},
    "Ovh": {
        "applicationKey": "ak",
        "applicationSecret": {"@type": "Value", "secret": "as"},
        "consumerKey": {"@type": "Value", "secret": "ck"},
        "ovhEndpoint": "ovh-ca",
    },
    "Porkbun": {
        "apiKey": "pk1_x",
        "secretApiKey": {"@type": "Value", "secret": "sk1_x"},
        "secret": {"@type": "Value", "secret": "unused"},
    },
    "Dnsimple": {
        "authToken": {"@type": "Value", "secret": "dnsimple"},
        "accountIdentifier": "1234",
        "secret": {"@type": "Value", "secret": "unused"},
    },
    "Spaceship": {"apiKey": "key", "secret": {"@type": "Value", "secret": "api-secret"}},
    "Route53": {
        "accessKeyId": "AKIAEXAMPLE",
        "secretAccessKey": {"@type": "Value", "secret": "aws"},
        "sessionToken": {"@type": "None"},
        "region": "eu-west-1",
        "hostedZoneId": "Z123",
        "privateZoneOnly": False,
    },
    "GoogleCloudDns": {
        "serviceAccountJson": {"@type": "Text", "secret": '{"type": "service_account"}'},
        "projectId": "project",
        "managedZone": "zone",
        "privateZone": False,
        "impersonateServiceAccount": "dns@project.iam.gserviceaccount.com",
    },
}


@pytest.fixture
def registry() -> Registry:
    """The installed plugins: every variant of Stalwart's DnsServer."""
    return load_registry()


def server(type_: str) -> dict[str, Any]:
    return {"@type": type_, **SHARED, **VARIANTS[type_]}


DOMAIN: dict[str, Any] = {
    "name": "example.org",
    "aliases": {"example.net": True, "example.com": True},
    "isEnabled": True,
    "description": "The main domain",
    "logo": "https://example.org/logo.png",
    "certificateManagement": {
        "@type": "Automatic",
        "acmeProviderId": "a1",
        "subjectAlternativeNames": {"mail.example.org": True},
    },
    "dkimManagement": {
        "@type": "Automatic",
        "algorithms": {"Dkim1Ed25519Sha256": True},
        "selectorTemplate": "v{version}-{algorithm}-{date-%Y%m%d}",
        "rotateAfter": 7776000000,
        "retireAfter": 604800000,
        "deleteAfter": 2592000000,
    },
    "dnsManagement": {
        "@type": "Automatic",
        "dnsServerId": "s1",
        "origin": "example.org",
        "publishRecords": {"dkim": True, "spf": True, "mx": True, "tlsa": True},
    },
    "memberTenantId": "t1",
    "directoryId": "d1",
    "catchAllAddress": "catch@example.org",
    "subAddressing": {
        "@type": "Custom",
        "customRule": {"match": [{"if": "is_local", "then": "'+'"}], "else": "false"},
    },
    "allowRelaying": True,
    "reportAddressUri": "mailto:reports@example.org",
}

BOOTSTRAP = {
    "serverHostname": "mail.example.test",
    "defaultDomain": "example.test",
    "requestTlsCertificate": True,
    "generateDkimKeys": False,
    "dnsServer": {"@type": "Manual"},
}


def holds(shown: Any, sent: Any) -> None:
    """Every property ``sent`` comes back in ``shown`` with the same value."""
    if isinstance(sent, dict):
        assert isinstance(shown, dict), (shown, sent)
        for key, value in sent.items():
            assert key in shown, (key, shown)
            holds(shown[key], value)
    else:
        assert shown == sent


def document(server_type: str) -> dict[str, Any]:
    return {
        "bootstrap": {**BOOTSTRAP, "dnsServer": server(server_type)},
        "dnsServer": {"s1": server(server_type)},
        "domain": {"example.org": DOMAIN},
    }


@pytest.mark.parametrize("server_type", sorted(VARIANTS))
def test_every_variant_in_the_file_is_taken_and_written_back_as_stalwart_writes_it(
    registry: Registry, tmp_path: Path, server_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document(server_type)))
    config = load_config_file(path, registry)
    dumped = config.model_dump(mode="json", context=REVEAL)
    holds(dumped["dnsServer"]["s1"], server(server_type))
    holds(dumped["bootstrap"]["dnsServer"], server(server_type))
    holds(dumped["domain"]["example.org"], DOMAIN)
    assert load_config(dumped, registry=registry) == config
    shown = config.model_dump(mode="json")["dnsServer"]["s1"]  # without the context: redacted
    for key, value in VARIANTS[server_type].items():
        if isinstance(value, dict) and value["@type"] in {"Value", "Text"}:
            assert shown[key] == {"@type": value["@type"], "secret": REDACTED}


def test_the_toml_file_takes_sets_as_inline_tables(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[bootstrap]\nserverHostname = "mail.example.test"\ndefaultDomain = "example.test"\n'
        '[domain."example.org"]\n'
        'dnsManagement = { "@type" = "Automatic", dnsServerId = "bootstrap", '
        "publishRecords = { dkim = true, spf = true, mx = false } }\n"
    )
    domain = load_config_file(path, registry).domain["example.org"]
    assert domain.dns_management.publish_records == ("dkim", "spf")  # type: ignore[union-attr]


def test_a_set_with_an_unknown_member_or_a_value_not_boolean_names_it(registry: Registry) -> None:
    for records, message in (
        ({"spff": True}, "unknown member 'spff'"),
        ({"spf": "yes"}, "member 'spf' must map to true, false or null"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config(
                {
                    "bootstrap": BOOTSTRAP,
                    "domain": {
                        "example.org": {
                            "dnsManagement": {
                                "@type": "Automatic",
                                "dnsServerId": "bootstrap",
                                "publishRecords": records,
                            }
                        }
                    },
                },
                registry=registry,
            )
        (problem,) = caught.value.problems
        assert problem.path == 'domain."example.org".dnsManagement.publishRecords'
        assert message in problem.message


def test_a_set_member_is_patched_with_true_and_removed_with_null_or_false() -> None:
    current = {"dnsManagement": {"publishRecords": {"dkim": True, "spf": True}}}
    patched = apply_patch(
        current,
        {
            "dnsManagement/publishRecords/mx": True,
            "dnsManagement/publishRecords/spf": None,
        },
        object_id="example.org",
    )
    assert patched["dnsManagement"]["publishRecords"] == {"dkim": True, "mx": True}


def test_manual_is_written_with_no_fields_as_stalwart_does(registry: Registry) -> None:
    config = load_config({"bootstrap": BOOTSTRAP}, registry=registry)
    assert config.model_dump(mode="json")["bootstrap"]["dnsServer"] == {"@type": "Manual"}
    # a field dnsauto reads (the zone file's TTL) is kept when given
    given = {**BOOTSTRAP, "dnsServer": {"@type": "Manual", "ttl": 3600000}}
    config = load_config({"bootstrap": given}, registry=registry)
    assert config.model_dump(mode="json")["bootstrap"]["dnsServer"] == given["dnsServer"]
    assert config.bootstrap.dns_server.ttl_seconds == 3600


def test_config_check_prints_manual_with_no_fields(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    state = tmp_path / "state"
    path.write_text(
        '[bootstrap]\nserverHostname = "mail.example.test"\ndefaultDomain = "example.test"\n'
        'dnsServer = { "@type" = "Manual" }\n'
        f'[daemon]\nstateDir = "{state}"\n'
    )
    result = CliRunner().invoke(cli, ["--config", str(path), "config", "check", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bootstrap"]["dnsServer"] == {"@type": "Manual"}


def test_a_disabled_domain_is_not_published_and_aliases_are(registry: Registry) -> None:
    domains = {
        "example.org": {"aliases": {"example.net": True}},
        "off.example": {"isEnabled": False, "aliases": ["off-alias.example"]},
    }
    config = load_config({"bootstrap": BOOTSTRAP, "domain": domains}, registry=registry)
    jobs = {job.domain: job for job in domain_jobs(config)}
    assert sorted(jobs) == ["example.net", "example.org", "example.test"]
    assert jobs["example.net"].settings.report_address_uri == "mailto:postmaster"
    assert "off.example" in config.domains  # kept, shown over the API


def test_an_alias_that_is_another_domain_or_its_alias_is_refused(registry: Registry) -> None:
    domains = {
        "example.org": {"aliases": {"example.net": True}},
        "example.net": {},
        "example.com": {"aliases": ["example.net"]},
    }
    with pytest.raises(ConfigError) as caught:
        load_config({"bootstrap": BOOTSTRAP, "domain": domains}, registry=registry)
    messages = sorted(p.message for p in caught.value.problems)
    assert messages == [
        "example.net is the name of domain example.net",
        "example.net is the name of domain example.net",
    ]


def test_a_domain_name_other_than_its_table_is_refused(registry: Registry) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            {"bootstrap": BOOTSTRAP, "domain": {"example.org": {"name": "example.net"}}},
            registry=registry,
        )
    (problem,) = caught.value.problems
    assert problem.path == 'domain."example.org".name'


def test_schema_durations_are_milliseconds_and_it_takes_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schema", "--config", str(tmp_path / "absent.toml")])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert '"PT' not in text
    schema = json.loads(text)
    timeout = schema["$defs"]["ManualDnsServer"]["properties"]["timeout"]
    assert timeout["default"] == 30000
    records = schema["$defs"]["AutomaticDns"]["properties"]["publishRecords"]
    assert {"object", "array"} == {variant["type"] for variant in records["anyOf"]}
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "absent.toml"), "schema"])
    assert (result.exit_code, result.stdout) == (0, text)


# --- `dnsauto create/update` against `dnsauto run`'s API ---------------------------------------


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiDaemon]:
    with start_api_daemon(tmp_path_factory.mktemp("stalwart-shapes"), timeout=120) as d:
        yield d


def fields(properties: dict[str, Any]) -> list[str]:
    found = []
    for key, value in properties.items():
        found += ["--field", f"{key}={json.dumps(value)}"]
    return found


def get(daemon: ApiDaemon, kind: str, object_id: str) -> dict[str, Any]:
    status, out, err = admin(daemon, "get", kind, object_id, "--json")
    assert status == 0, err
    (found,) = json.loads(out)["list"]
    return dict(found)


def redacted(properties: dict[str, Any]) -> dict[str, Any]:
    shown = copy.deepcopy(properties)
    for key, value in shown.items():
        if isinstance(value, dict) and value.get("@type") in {"Value", "Text"}:
            shown[key] = {**value, "secret": REDACTED}
    return shown


@pytest.mark.parametrize("server_type", sorted(VARIANTS))
def test_dnsauto_create_and_update_take_every_variant(daemon: ApiDaemon, server_type: str) -> None:
    properties = {**SHARED, **VARIANTS[server_type]}
    if server_type == "DigitalOcean":  # the API reads no variable outside its allowed prefixes
        properties["secret"] = {"@type": "Value", "secret": "do"}
    status, out, err = admin(daemon, "create", f"DnsServer/{server_type}", *fields(properties))
    assert (status, err) == (0, ""), out
    server_id = out.split()[2]
    holds(get(daemon, "DnsServer", server_id), {"@type": server_type, **redacted(properties)})
    status, _, err = admin(daemon, "update", "DnsServer", server_id, "--field", "ttl=600000")
    assert (status, err) == (0, "")
    shown = get(daemon, "DnsServer", server_id)
    holds(shown, {**redacted(properties), "ttl": 600000})
    assert admin(daemon, "delete", "DnsServer", "--ids", server_id)[0] == 0


def test_dnsauto_create_and_update_take_a_stalwart_domain(daemon: ApiDaemon) -> None:
    sent = copy.deepcopy(DOMAIN)
    sent["name"] = "shapes.example"
    sent["aliases"] = {"shapes-alias.example": True}
    sent["dnsManagement"] = {
        "@type": "Automatic",
        "dnsServerId": "bootstrap",
        "publishRecords": {"spf": True, "mx": True},
    }
    sent["dkimManagement"] = {"@type": "Manual"}
    status, out, err = admin(daemon, "create", "Domain", *fields(sent))
    assert (status, err) == (0, ""), out
    holds(get(daemon, "Domain", "shapes.example"), sent)
    status, _, err = admin(
        daemon,
        "update",
        "Domain",
        "shapes.example",
        "--field",
        "dnsManagement/publishRecords/dmarc=true",
        "--field",
        "dnsManagement/publishRecords/mx=null",
        "--field",
        "isEnabled=false",
    )
    assert (status, err) == (0, "")
    shown = get(daemon, "Domain", "shapes.example")
    assert shown["dnsManagement"]["publishRecords"] == {"spf": True, "dmarc": True}
    assert shown["isEnabled"] is False
    holds(shown, {k: v for k, v in sent.items() if k not in {"dnsManagement", "isEnabled"}})


def test_dnsauto_update_takes_the_bootstrap_with_manual_written_bare(daemon: ApiDaemon) -> None:
    shown = get(daemon, "Bootstrap", "singleton")
    assert shown["dnsServer"] == {"@type": "Manual"}
    status, _, err = admin(daemon, "update", "Bootstrap", "--field", 'dnsServer={"@type":"Manual"}')
    assert (status, err) == (0, "")
    assert get(daemon, "Bootstrap", "singleton")["dnsServer"] == {"@type": "Manual"}


def test_the_bootstraps_sets_are_written_as_stalwart_writes_them(registry: Registry) -> None:
    tracer = {"@type": "Journal", "events": {"acme.auth-start": True}, "eventsPolicy": "include"}
    config = load_config({"bootstrap": {**BOOTSTRAP, "tracer": tracer}}, registry=registry)
    holds(config.model_dump(mode="json")["bootstrap"]["tracer"], tracer)
    assert config.bootstrap.tracer.events == ("acme.auth-start",)  # type: ignore[union-attr]


async def test_a_changed_domain_reschedules_its_aliases_and_drops_a_removed_one(
    registry: Registry, tmp_path: Path
) -> None:
    from dnsauto.service.daemon import Daemon

    def config(aliases: list[str]) -> Any:
        domains = {"example.org": {"aliases": aliases}}
        daemon = {"stateDir": str(tmp_path)}
        return load_config(
            {"bootstrap": BOOTSTRAP, "domain": domains, "daemon": daemon}, registry=registry
        )

    running = Daemon(config(["example.net"]), registry)
    jobs, removed, added, changed = running._changes(config(["example.com"]), ["example.org"])
    assert (removed, added) == (["example.net"], ["example.com"])
    assert sorted(jobs) == ["example.com", "example.org"]
    assert changed == ["example.org"]


@pytest.mark.parametrize(
    "variant",
    [
        {"dnsManagement": {"@type": "Manual"}},
        {"dkimManagement": {"@type": "Manual"}},
        {"certificateManagement": {"@type": "Manual"}},
        {"subAddressing": {"@type": "Enabled"}},
        {"subAddressing": {"@type": "Disabled"}},
        {"isEnabled": False, "aliases": {}},
    ],
)
def test_every_domain_variant_in_the_file_round_trips(
    registry: Registry, variant: dict[str, Any]
) -> None:
    sent = {**DOMAIN, **variant}
    domains = {"example.org": sent}
    document = {"bootstrap": BOOTSTRAP, "dnsServer": {"s1": server("Tsig")}, "domain": domains}
    config = load_config(document, registry=registry)
    dumped = config.model_dump(mode="json", context=REVEAL)
    holds(dumped["domain"]["example.org"], sent)
    assert load_config(dumped, registry=registry) == config


def test_a_file_secret_in_stalwarts_shape_round_trips(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "cf.token").write_text("token\n")
    sent = {**server("Cloudflare"), "secret": {"@type": "File", "filePath": "cf.token"}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"bootstrap": BOOTSTRAP, "dnsServer": {"cf": sent}}))
    config = load_config_file(path, registry)
    shown = config.model_dump(mode="json")["dnsServer"]["cf"]
    assert shown["secret"] == {"@type": "File", "filePath": str(tmp_path / "cf.token")}
    assert config.dns_server["cf"].secret.resolve() == "token"  # type: ignore[attr-defined]
