"""What a provider plugin implements, and how dnsauto finds the installed ones.

A plugin is a distribution that registers, in the entry-point group ``dnsauto.providers``, one
:class:`Provider` subclass per Stalwart ``@type`` (the entry-point name). The class names its
pydantic settings model (a subclass of :class:`~dnsauto.config.dnsserver.DnsServerBase`) and
declares its :class:`Capabilities`. It only translates RRsets to and from its API: planning,
ownership, batching, retries and propagation checks live in the core.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar, Generic, TypeVar

import dns.name
import dns.rdatatype
import dns.rrset

from dnsauto.changes import Change
from dnsauto.config.dnsserver import DnsServerBase
from dnsauto.errors import PluginError

__all__ = [
    "ENTRY_POINT_GROUP",
    "KNOWN_DISTRIBUTIONS",
    "Capabilities",
    "Provider",
    "ProviderContext",
    "ProviderInfo",
    "Registry",
    "Zone",
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

MAIL_RECORD_TYPES = frozenset(
    dns.rdatatype.RdataType.make(t) for t in ("MX", "TXT", "CNAME", "SRV", "CAA", "TLSA")
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do; the core plans and batches around it."""

    record_types: frozenset[dns.rdatatype.RdataType] = MAIL_RECORD_TYPES
    """The record types the provider can hold."""
    max_changes_per_batch: int | None = None
    """How many RRset changes one ``apply`` call may carry; ``None`` for no limit."""
    atomic_batches: bool = False
    """Whether a batch applies all or nothing."""
    can_list_names: bool = True
    """Whether ``list_rrsets`` can read chosen names without reading the whole zone."""
    can_read: bool = True
    """False when the provider cannot see current records at all (``Manual``)."""
    requires_person: bool = False
    """True when ``apply`` only tells a person what to do (``Manual``)."""


@dataclass(frozen=True)
class Zone:
    """A zone at a provider: its apex name and the provider's own handle for it."""

    name: dns.name.Name
    id: str = ""
    min_ttl: int | None = None
    """The lowest TTL the provider accepts in this zone; lower TTLs are raised (and said)."""

    def __str__(self) -> str:
        return self.name.to_text()


@dataclass
class ProviderContext:
    """What the core hands a provider besides its settings."""

    server_id: str
    """The DnsServer id in the configuration (``bootstrap`` for the Bootstrap's own)."""
    instructions: list[str] = field(default_factory=list)
    """Text for a person, collected by providers that cannot act themselves."""


SettingsT = TypeVar("SettingsT", bound=DnsServerBase)


class Provider(abc.ABC, Generic[SettingsT]):
    """The RRset-level interface of one DNS host's API.

    Subclasses set :attr:`type_name`, :attr:`settings_model` and :attr:`capabilities`, and
    implement :meth:`find_zone`, :meth:`list_rrsets` and :meth:`apply`. Errors are raised as
    :class:`~dnsauto.errors.ProviderError` subclasses, mapped ``from`` the API's own errors in
    one place, and never carry secrets.
    """

    type_name: ClassVar[str]
    settings_model: ClassVar[type[DnsServerBase]]
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, settings: SettingsT, context: ProviderContext) -> None:
        self.settings = settings
        self.context = context

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abc.ABC in cls.__bases__ or getattr(cls, "__abstractmethods__", None):
            return
        missing = [a for a in ("type_name", "settings_model") if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"provider {cls.__qualname__} must declare {', '.join(missing)}")

    @abc.abstractmethod
    async def find_zone(self, name: dns.name.Name) -> Zone:
        """Return the zone that holds ``name``: the one with the longest matching apex.

        Must find delegated subdomains in their own zone (walk up the labels, or match the
        longest suffix among the account's zones). Raises ``ZoneNotFoundError`` when no zone
        at the provider contains the name, ``AuthenticationError`` when refused.
        """

    @abc.abstractmethod
    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        """Return the RRsets of ``zone`` at ``names`` (absolute), or all of them when ``None``.

        Must return every page of a paged API. May return RRsets at other names too (a
        provider that can only read the whole zone does); the core filters. TTLs are seconds.
        """

    @abc.abstractmethod
    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        """Carry out ``changes`` (at most ``capabilities.max_changes_per_batch``) in ``zone``.

        An ``Update`` replaces the whole RRset with ``new``; a ``Delete`` removes the RRset.
        Must not touch any other RRset. Should fail with ``ConflictError`` when the provider can
        tell that the RRset no longer matches ``old``. Raises ``TransientError`` for failures
        worth retrying.
        """

    async def wait_live(self, zone: Zone) -> None:
        """Wait for the provider's own "change is live" signal, where it has one (optional)."""

    async def aclose(self) -> None:
        """Release connections and sessions."""


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
