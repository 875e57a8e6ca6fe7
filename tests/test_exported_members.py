"""The modules plugins import declare exactly their public names."""

from __future__ import annotations

import dnsauto.changes
import dnsauto.errors
import dnsauto.provider
import dnsauto.testing


def test_provider_module_exports_exactly_the_plugin_interface() -> None:
    assert sorted(dnsauto.provider.__all__) == [
        "Capabilities",
        "ENTRY_POINT_GROUP",
        "KNOWN_DISTRIBUTIONS",
        "Provider",
        "ProviderContext",
        "ProviderInfo",
        "Registry",
        "Zone",
        "load_registry",
        "registry_from",
    ]


def test_errors_module_exports_every_error() -> None:
    errors = {
        name
        for name, value in vars(dnsauto.errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert errors <= set(dnsauto.errors.__all__)


def test_every_error_derives_from_the_root() -> None:
    for name in dnsauto.errors.__all__:
        value = getattr(dnsauto.errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, dnsauto.errors.DnsautoError)


def test_exported_names_exist() -> None:
    for module in (dnsauto.changes, dnsauto.errors, dnsauto.provider, dnsauto.testing):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
