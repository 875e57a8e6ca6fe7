"""How dnsauto finds the installed providers: the entry points of group ``dnsauto.providers``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from dnsauto.plugin.context import ProviderContext
from dnsauto.plugin.errors import PluginError
from dnsauto.plugin.provider import Provider
from dnsauto.plugin.settings import DnsServerBase

__all__ = [
    "ENTRY_POINT_GROUP",
    "KNOWN_DISTRIBUTIONS",
    "ProviderInfo",
    "Registry",
    "load_registry",
    "registry_from",
]

ENTRY_POINT_GROUP = "dnsauto.providers"

KNOWN_DISTRIBUTIONS: dict[str, str] = {
    "Tsig": "dnsauto-rfc2136",
    "Sig0": "dnsauto-rfc2136",
    "Cloudflare": "dnsauto-cloudflare",
    "DigitalOcean": "dnsauto-digitalocean",
    "DeSEC": "dnsauto-desec",
    "Bunny": "dnsauto-bunny",
    "Ovh": "dnsauto-ovh",
    "Porkbun": "dnsauto-porkbun",
    "Dnsimple": "dnsauto-dnsimple",
    "Spaceship": "dnsauto-spaceship",
    "Route53": "dnsauto-route53",
    "GoogleCloudDns": "dnsauto-googleclouddns",
}
"""The distribution that provides each ``@type`` dnsauto knows of, for "install X" messages."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderInfo:
    """An installed provider: its ``@type``, class and the distribution that ships it."""

    type_name: str
    provider_class: type[Provider[Any]]
    distribution: str
    version: str

    @property
    def settings_model(self) -> type[DnsServerBase]:
        return self.provider_class.settings_model


class Registry:
    """The installed providers, by ``@type``."""

    def __init__(self, infos: Sequence[ProviderInfo] = ()) -> None:
        self._by_type: dict[str, ProviderInfo] = {}
        self.broken: dict[str, str] = {}
        """Plugins that failed to load, by @type: why. Only configs that use them fail."""
        for info in infos:
            self.add(info)

    def add(self, info: ProviderInfo) -> None:
        existing = self._by_type.get(info.type_name)
        if existing is not None and existing.provider_class is not info.provider_class:
            raise PluginError(
                f"provider @type {info.type_name!r} is registered twice: by "
                f"{existing.distribution} and by {info.distribution}; uninstall one of them"
            )
        self._by_type[info.type_name] = info

    def discard(self, type_name: str) -> None:
        self._by_type.pop(type_name, None)

    def get(self, type_name: str) -> ProviderInfo | None:
        return self._by_type.get(type_name)

    def __iter__(self) -> Any:
        return iter(sorted(self._by_type.values(), key=lambda i: i.type_name))

    def __len__(self) -> int:
        return len(self._by_type)

    def settings_models(self) -> list[type[DnsServerBase]]:
        return [info.settings_model for info in self]

    def create(self, settings: DnsServerBase, context: ProviderContext) -> Provider[Any]:
        info = self._by_type.get(settings.type)
        if info is None:
            raise PluginError(self.missing_message(settings.type))
        return info.provider_class(settings, context)

    def missing_message(self, type_name: str) -> str:
        """Why @type ``type_name`` cannot be used: its plugin is broken or not installed."""
        if type_name in self.broken:
            return self.broken[type_name]
        return missing_plugin_message(type_name)


def missing_plugin_message(type_name: str) -> str:
    distribution = KNOWN_DISTRIBUTIONS.get(type_name)
    if distribution:
        return f"no installed plugin provides @type {type_name!r}: install {distribution}"
    return f"unknown DnsServer @type {type_name!r}"


def _load_entry_point(entry: metadata.EntryPoint) -> ProviderInfo:
    dist = entry.dist
    distribution = dist.metadata["Name"] if dist is not None else "?"
    version = dist.version if dist is not None else "?"
    try:
        loaded = entry.load()
    except Exception as exc:
        raise PluginError(
            f"provider plugin {entry.name!r} from {distribution} failed to import "
            f"({entry.value}): {type(exc).__name__}: {exc}"
        ) from exc
    if not (isinstance(loaded, type) and issubclass(loaded, Provider)):
        raise PluginError(
            f"entry point {entry.name!r} of {distribution} ({entry.value}) is not a Provider class"
        )
    if loaded.type_name != entry.name:
        raise PluginError(
            f"entry point {entry.name!r} of {distribution} names a provider whose @type is "
            f"{loaded.type_name!r}; the entry-point name must be the @type"
        )
    return ProviderInfo(entry.name, loaded, distribution, version)


_registry: Registry | None = None


def registry_from(entries: Iterable[metadata.EntryPoint]) -> Registry:
    """A registry of these entry points; a plugin that fails to load is kept in ``broken``."""
    registry = Registry()
    for entry in entries:
        try:
            registry.add(_load_entry_point(entry))
        except PluginError as exc:
            log.warning("%s", exc.message)
            registry.broken[entry.name] = exc.message
            registry.discard(entry.name)
    return registry


def load_registry(*, refresh: bool = False) -> Registry:
    """The providers registered through entry points (loaded once per process)."""
    global _registry
    if _registry is None or refresh:
        _registry = registry_from(metadata.entry_points(group=ENTRY_POINT_GROUP))
    return _registry
