"""The modules plugins import declare exactly their public names."""

from __future__ import annotations

import dnsauto.plugin
import dnsauto.plugin.changes
import dnsauto.plugin.context
import dnsauto.plugin.errors
import dnsauto.plugin.provider
import dnsauto.plugin.registry
import dnsauto.service.coalescer
import dnsauto.service.daemon
import dnsauto.service.dkim
import dnsauto.service.logs
import dnsauto.testing


def test_provider_module_exports_exactly_the_plugin_interface() -> None:
    assert sorted(dnsauto.plugin.provider.__all__) == [
        "Capabilities",
        "MAIL_RECORD_TYPES",
        "Provider",
        "ProviderContext",
        "Zone",
    ]
    assert sorted(dnsauto.plugin.registry.__all__) == [
        "ENTRY_POINT_GROUP",
        "KNOWN_DISTRIBUTIONS",
        "ProviderInfo",
        "Registry",
        "load_registry",
        "registry_from",
    ]


def test_the_plugin_surface_is_pinned() -> None:
    assert sorted(dnsauto.plugin.__all__) == [
        "AuthenticationError",
        "Capabilities",
        "Change",
        "ConfigError",
        "ConfigProblem",
        "ConflictError",
        "Create",
        "Delete",
        "DnsServerBase",
        "DnsautoError",
        "ENTRY_POINT_GROUP",
        "MAIL_RECORD_TYPES",
        "PartialApplyError",
        "PluginError",
        "Provider",
        "ProviderContext",
        "ProviderError",
        "ProviderInfo",
        "REDACTED",
        "Registry",
        "SecretEnvironmentVariable",
        "SecretError",
        "SecretFile",
        "SecretKey",
        "SecretKeyOptional",
        "SecretNone",
        "SecretText",
        "SecretTextOptional",
        "SecretTextValue",
        "SecretValue",
        "TransientError",
        "UnsupportedError",
        "Update",
        "Zone",
        "ZoneNotFoundError",
        "canonical_order",
        "comparable_value",
        "load_registry",
        "reveal",
        "rrset_of",
        "rrset_values",
    ]


def test_errors_module_exports_every_error() -> None:
    errors = {
        name
        for name, value in vars(dnsauto.plugin.errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert errors <= set(dnsauto.plugin.errors.__all__)


def test_every_error_derives_from_the_root() -> None:
    for name in dnsauto.plugin.errors.__all__:
        value = getattr(dnsauto.plugin.errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, dnsauto.plugin.errors.DnsautoError)


def test_exported_names_exist() -> None:
    for module in (
        dnsauto.plugin.changes,
        dnsauto.plugin.errors,
        dnsauto.plugin.provider,
        dnsauto.testing,
    ):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_the_daemon_modules_declare_what_the_service_uses() -> None:
    assert sorted(dnsauto.service.coalescer.__all__) == ["Coalescer", "Request", "Run"]
    assert sorted(dnsauto.service.dkim.__all__) == ["DkimRotation"]
    assert sorted(dnsauto.service.daemon.__all__) == [
        "Daemon",
        "EngineFactory",
        "EngineLike",
        "STATUS_FILE",
        "load_checked",
        "read_status_file",
    ]
    assert sorted(dnsauto.service.logs.__all__) == [
        "JsonFormatter",
        "TextFormatter",
        "log_context",
        "setup_logging",
        "summary_of_names",
    ]
