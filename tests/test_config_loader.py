"""Loading configuration: Stalwart's names and defaults, and one clear line per problem."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dnsauto.config.loader import load_config, load_config_file, resolve_secrets
from dnsauto.plugin.errors import ConfigError
from dnsauto.plugin.registry import Registry
from dnsauto.plugin.types import format_duration, parse_duration

BOOT = {"serverHostname": "mail.example.test", "defaultDomain": "example.test"}


def problems(document: object, registry: Registry) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(document, registry=registry, source="f.toml")
    return [str(p) for p in caught.value.problems]


def memory_server(**fields: object) -> dict[str, object]:
    return {"@type": "Memory", "description": "test", **fields}


def test_dns_server_defaults_are_stalwarts(registry: Registry) -> None:
    config = load_config(
        {"bootstrap": BOOT, "dnsServer": {"m": memory_server()}}, registry=registry
    )
    server = config.dns_server["m"]
    assert server.timeout == timedelta(seconds=30)
    assert server.ttl == timedelta(minutes=5)
    assert server.polling_interval == timedelta(seconds=15)
    assert server.propagation_timeout == timedelta(minutes=1)
    assert server.propagation_delay is None


def test_bootstrap_defaults_are_stalwarts(registry: Registry) -> None:
    dumped = load_config({"bootstrap": BOOT}, registry=registry).model_dump(mode="json")[
        "bootstrap"
    ]
    assert dumped["requestTlsCertificate"] is True
    assert dumped["generateDkimKeys"] is True
    assert dumped["dnsServer"] == {"@type": "Manual"}  # Stalwart's Manual has no fields
    assert dumped["dataStore"]["@type"] == "RocksDb"
    assert dumped["dataStore"]["path"] == "/var/lib/stalwart/"
    assert dumped["directory"] == {"@type": "Internal"}
    assert dumped["tracer"]["@type"] == "Log"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000), ("1d", 86_400_000),
     ("500ms", 500), ("1h30m", 5_400_000), (15000, 15_000), ("15000", 15_000)],
)  # fmt: skip
def test_durations_accept_text_units_and_integer_milliseconds(text: object, expected: int) -> None:
    assert parse_duration(text) == timedelta(milliseconds=expected)


def test_durations_go_over_the_wire_as_milliseconds(registry: Registry) -> None:
    config = load_config(
        {"bootstrap": BOOT, "dnsServer": {"m": memory_server(ttl="1h")}}, registry=registry
    )
    assert config.model_dump(mode="json")["dnsServer"]["m"]["ttl"] == 3_600_000


def test_durations_format_back_to_the_largest_exact_units() -> None:
    assert format_duration(timedelta(minutes=90)) == "1h30m"


def test_unknown_key_is_an_error_naming_its_path(registry: Registry) -> None:
    assert problems({"bootstrap": {**BOOT, "serverHostnme": "x"}}, registry) == [
        "f.toml: bootstrap.serverHostnme: unknown key"
    ]


def test_snake_case_names_are_unknown_keys(registry: Registry) -> None:
    found = problems({"bootstrap": {**BOOT, "server_hostname": "mail.example.test"}}, registry)
    assert "f.toml: bootstrap.server_hostname: unknown key" in found


def test_missing_required_field_is_named(registry: Registry) -> None:
    assert problems({"bootstrap": {"defaultDomain": "example.test"}}, registry) == [
        "f.toml: bootstrap.serverHostname: missing required field"
    ]


def test_wrong_type_is_named(registry: Registry) -> None:
    found = problems({"bootstrap": {**BOOT, "generateDkimKeys": "often"}}, registry)
    assert found[0].startswith("f.toml: bootstrap.generateDkimKeys: ")


def test_out_of_range_value_is_named(registry: Registry) -> None:
    document = {"bootstrap": BOOT, "mailServer": {"mailExchangers": [{"priority": 70000}]}}
    found = problems(document, registry)
    assert found[0].startswith("f.toml: mailServer.mailExchangers[0].priority: ")
    assert "65535" in found[0]


def test_bad_duration_is_named(registry: Registry) -> None:
    found = problems({"bootstrap": BOOT, "dnsServer": {"m": memory_server(ttl="5x")}}, registry)
    assert found == [
        "f.toml: dnsServer.m.ttl: '5x' is not a duration: use e.g. '500ms', '30s', '5m', '1h', '1d'"
    ]


def test_unknown_enum_value_lists_the_allowed_ones(registry: Registry) -> None:
    document = {
        "bootstrap": BOOT,
        "dnsServer": {"m": memory_server()},
        "domain": {
            "example.org": {
                "dnsManagement": {"@type": "Automatic", "dnsServerId": "m",
                                  "publishRecords": ["dkim", "spff"]}
            }
        },
    }  # fmt: skip
    (found,) = problems(document, registry)
    assert found.startswith('f.toml: domain."example.org".dnsManagement.publishRecords[1]: ')
    assert "'spf'" in found


def test_type_of_a_provider_not_installed_names_the_distribution(registry: Registry) -> None:
    document = {"bootstrap": BOOT, "dnsServer": {"cf": {"@type": "Cloudflare"}}}
    assert problems(document, registry) == [
        "f.toml: dnsServer.cf.@type: no installed plugin provides @type 'Cloudflare': "
        "install dnsauto-cloudflare"
    ]


def test_unknown_type_lists_the_installed_ones(registry: Registry) -> None:
    (found,) = problems({"bootstrap": {**BOOT, "dnsServer": {"@type": "Carrier"}}}, registry)
    assert found.startswith("f.toml: bootstrap.dnsServer.@type: unknown @type 'Carrier'")
    assert "'Memory'" in found


def test_missing_type_is_named(registry: Registry) -> None:
    assert problems({"bootstrap": BOOT, "dnsServer": {"m": {"description": "x"}}}, registry) == [
        "f.toml: dnsServer.m: missing '@type'"
    ]


def test_domain_naming_an_undefined_dns_server_is_an_error(registry: Registry) -> None:
    document = {
        "bootstrap": BOOT,
        "domain": {"example.org": {"dnsManagement": {"@type": "Automatic", "dnsServerId": "x"}}},
    }
    assert problems(document, registry) == [
        "f.toml: domain.\"example.org\".dnsManagement.dnsServerId: no DnsServer 'x' "
        "(defined: bootstrap)"
    ]


def test_invalid_domain_name_is_an_error(registry: Registry) -> None:
    (found,) = problems({"bootstrap": BOOT, "domain": {"not a domain": {}}}, registry)
    assert found.startswith('f.toml: domain."not a domain": ')


def test_bad_selector_template_is_an_error(registry: Registry) -> None:
    document = {
        "bootstrap": BOOT,
        "domain": {"example.org": {"dkimManagement": {"@type": "Automatic",
                                                       "selectorTemplate": "{colour}"}}},
    }  # fmt: skip
    (found,) = problems(document, registry)
    assert (
        'domain."example.org".dkimManagement.selectorTemplate: unknown selector variable' in found
    )


def test_secret_values_never_appear_in_errors(registry: Registry) -> None:
    document = {
        "bootstrap": BOOT,
        "dnsServer": {
            "m": memory_server(port="x", secret={"@type": "Value", "secret": "hunter2", "x": 1})
        },
    }
    found = "\n".join(problems(document, registry))
    assert "hunter2" not in found


def test_secret_values_are_redacted_in_output() -> None:
    from dnsauto.plugin.types import SecretValue

    secret = SecretValue.model_validate({"@type": "Value", "secret": "hunter2"})
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in secret.model_dump_json()
    assert secret.resolve() == "hunter2"


def test_unset_environment_variable_secret_is_reported_by_path(registry: Registry) -> None:
    document = {
        "bootstrap": BOOT,
        "dnsServer": {
            "m": memory_server(
                secret={"@type": "EnvironmentVariable", "variableName": "DNSAUTO_TEST_UNSET"}
            )
        },
    }
    config = load_config(document, registry=registry)
    assert [str(p) for p in resolve_secrets(config, "f.toml")] == [
        "f.toml: dnsServer.m.secret: environment variable DNSAUTO_TEST_UNSET is not set"
    ]


def test_unreadable_secret_file_is_reported_by_path(registry: Registry, tmp_path: Path) -> None:
    missing = tmp_path / "nope.key"
    document = {
        "bootstrap": BOOT,
        "dnsServer": {"m": memory_server(secret={"@type": "File", "filePath": str(missing)})},
    }
    config = load_config(document, registry=registry)
    assert [str(p) for p in resolve_secrets(config, "f.toml")] == [
        f"f.toml: dnsServer.m.secret: cannot read secret file {missing}: No such file or directory"
    ]


def test_secret_file_loses_one_trailing_newline(tmp_path: Path) -> None:
    from dnsauto.plugin.types import SecretFile

    path = tmp_path / "k"
    path.write_text("s3cret\n")
    assert SecretFile.model_validate({"@type": "File", "filePath": str(path)}).resolve() == "s3cret"


def test_invalid_toml_is_one_line_with_the_position(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[bootstrap\n")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path, registry)
    assert str(caught.value).startswith(f"{path}: invalid TOML: ")
    assert "line 1" in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration: No such file"):
        load_config_file(tmp_path / "absent.toml", registry)


def test_state_dir_is_relative_to_the_config_file(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[bootstrap]\nserverHostname = "mail.example.test"\ndefaultDomain = "example.test"\n'
        '[daemon]\nstateDir = "st"\n'
    )
    assert load_config_file(path, registry).daemon.state_dir == str(tmp_path / "st")


def test_bootstrap_default_domain_is_published_with_the_bootstrap_publish_list(
    registry: Registry,
) -> None:
    config = load_config({"bootstrap": {**BOOT, "dnsServer": memory_server()}}, registry=registry)
    domain = config.domains["example.test"]
    dumped = domain.model_dump(mode="json")["dnsManagement"]
    assert dumped["dnsServerId"] == "bootstrap"
    assert dumped["publishRecords"] == dict.fromkeys([
        "dkim", "spf", "dmarc", "srv", "mtaSts", "tlsRpt",
        "autoConfig", "autoConfigLegacy", "autoDiscover",
    ], True)  # fmt: skip


def test_a_domain_table_for_the_default_domain_replaces_the_implied_one(
    registry: Registry,
) -> None:
    config = load_config(
        {"bootstrap": BOOT, "domain": {"example.test": {"reportAddressUri": None}}},
        registry=registry,
    )
    assert config.domains["example.test"].report_address_uri is None


def test_the_bootstrap_server_id_is_reserved(registry: Registry) -> None:
    assert problems({"bootstrap": BOOT, "dnsServer": {"bootstrap": memory_server()}}, registry) == [
        "f.toml: dnsServer.bootstrap: this id is reserved for bootstrap.dnsServer; choose another"
    ]


def fleet(*domains: dict[str, object]) -> dict[str, object]:
    return {
        "bootstrap": {"serverHostname": "mail.example.test", "defaultDomain": "d0.example.test"},
        "domain": {f"d{n}.example.test": settings for n, settings in enumerate(domains)},
    }


def test_domains_set_up_alike_share_one_settings_object(registry: Registry) -> None:
    alike = {"dnsManagement": {"@type": "Manual"}, "reportAddressUri": "mailto:dmarc"}
    config = load_config(fleet(alike, dict(alike), dict(alike)), registry=registry)
    assert len({id(settings) for settings in config.domains.values()}) == 1


def test_domains_set_up_differently_keep_their_own_settings(registry: Registry) -> None:
    config = load_config(
        fleet({"reportAddressUri": "mailto:a"}, {"reportAddressUri": "mailto:b"}),
        registry=registry,
    )
    first, second = config.domains.values()
    assert (first.report_address_uri, second.report_address_uri) == ("mailto:a", "mailto:b")


def test_a_default_given_explicitly_is_not_shared_with_a_default_left_unset(
    registry: Registry,
) -> None:
    config = load_config(fleet({}, {"isEnabled": True}), registry=registry)
    first, second = config.domains.values()
    assert first is not second
    assert "is_enabled" in second.model_fields_set
    assert "is_enabled" not in first.model_fields_set
