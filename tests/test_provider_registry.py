"""Finding provider plugins through entry points."""

from __future__ import annotations

import logging
from importlib import metadata

import pytest

from dnsauto.config.loader import load_config
from dnsauto.plugin.errors import ConfigError, PluginError
from dnsauto.plugin.provider import Provider
from dnsauto.plugin.registry import ProviderInfo, Registry, load_registry, registry_from
from dnsauto.sync.manual import ManualProvider
from dnsauto.testing.memory import MemoryProvider


def entry(name: str, value: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name=name, value=value, group="dnsauto.providers")


def test_manual_is_registered_through_the_core_entry_point() -> None:
    info = load_registry(refresh=True).get("Manual")
    assert info is not None
    assert info.provider_class is ManualProvider
    assert info.distribution == "dnsauto"


def test_a_plugin_that_fails_to_import_is_kept_as_broken_with_its_module(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        registry = registry_from([entry("Broken", "no_such_module_xyz:Provider")])
    assert registry.get("Broken") is None
    assert "no_such_module_xyz:Provider" in registry.broken["Broken"]
    assert "failed to import" in caplog.text


def test_a_config_using_a_broken_plugin_names_the_failure() -> None:
    registry = registry_from(
        [entry("Manual", "dnsauto.sync.manual:ManualProvider"), entry("Tsig", "nowhere_xyz:P")]
    )
    with pytest.raises(ConfigError) as caught:
        load_config(
            {
                "bootstrap": {"serverHostname": "mail.example.test", "defaultDomain": "a.test"},
                "dnsServer": {"t": {"@type": "Tsig"}},
            },
            registry=registry,
        )
    assert "dnsServer.t.@type: provider plugin 'Tsig'" in str(caught.value)
    assert "failed to import" in str(caught.value)


def test_an_entry_point_that_is_not_a_provider_class_is_refused() -> None:
    registry = registry_from([entry("Odd", "dnsauto.plugin.errors:ConfigProblem")])
    assert "is not a Provider class" in registry.broken["Odd"]


def test_the_entry_point_name_must_be_the_type() -> None:
    registry = registry_from([entry("Other", "dnsauto.sync.manual:ManualProvider")])
    assert "the entry-point name must be the @type" in registry.broken["Other"]


def test_a_type_registered_twice_names_both_distributions() -> None:
    registry = Registry([ProviderInfo("Memory", MemoryProvider, "dist-a", "1")])

    class Impostor(MemoryProvider):
        pass

    with pytest.raises(PluginError, match="registered twice: by dist-a and by dist-b"):
        registry.add(ProviderInfo("Memory", Impostor, "dist-b", "1"))


def test_a_provider_class_must_declare_its_type_and_settings() -> None:
    with pytest.raises(TypeError, match="must declare type_name, settings_model"):

        class Incomplete(Provider):  # type: ignore[type-arg]
            async def find_zone(self, name):  # type: ignore[no-untyped-def]
                raise NotImplementedError

            async def list_rrsets(self, zone, names=None):  # type: ignore[no-untyped-def]
                return []

            async def apply(self, zone, changes):  # type: ignore[no-untyped-def]
                return None
