"""Everything a provider plugin imports from dnsauto, in one place.

A plugin imports from ``dnsauto.plugin`` (and, in its tests, ``dnsauto.testing``) and from
nothing else in the core, so the core can move its modules without breaking plugins. The HTTP
toolkit shared by the cloud providers lives in the submodules:

- :mod:`dnsauto.plugin.http`: one aiohttp session per provider, retries, rate limit, counters,
  status codes mapped to the errors below, secrets redacted;
- :mod:`dnsauto.plugin.record_ids`: RRset changes turned into per-record calls for APIs that
  address each record by its id;
- :mod:`dnsauto.plugin.batches`: which changes went through when a batch takes several calls
  and one fails (:class:`PartialApplyError`);
- :mod:`dnsauto.plugin.rdata_forms`: record data to and from the field forms APIs use;
- :mod:`dnsauto.plugin.zones`: the zone holding a name, by longest suffix, over every page.

The names below are defined in :mod:`~dnsauto.plugin.provider` (the interface),
:mod:`~dnsauto.plugin.context`, :mod:`~dnsauto.plugin.registry` (entry points),
:mod:`~dnsauto.plugin.changes`, :mod:`~dnsauto.plugin.errors`, :mod:`~dnsauto.plugin.settings`
(settings base class), :mod:`~dnsauto.plugin.names` (``canonical_order``: a name's sort and
lookup key) and :mod:`~dnsauto.plugin.types` (secret types). They load on first use
(PEP 562), so ``dnsauto --help`` imports none of pydantic's models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dnsauto.plugin.changes import (
        Change,
        Create,
        Delete,
        Update,
        comparable_value,
        rrset_of,
        rrset_values,
    )
    from dnsauto.plugin.context import ProviderContext
    from dnsauto.plugin.errors import (
        AuthenticationError,
        ConfigError,
        ConfigProblem,
        ConflictError,
        DnsautoError,
        PartialApplyError,
        PluginError,
        ProviderError,
        SecretError,
        TransientError,
        UnsupportedError,
        ZoneNotFoundError,
    )
    from dnsauto.plugin.names import canonical_order
    from dnsauto.plugin.provider import MAIL_RECORD_TYPES, Capabilities, Provider, Zone
    from dnsauto.plugin.registry import ENTRY_POINT_GROUP, ProviderInfo, Registry, load_registry
    from dnsauto.plugin.settings import DnsServerBase
    from dnsauto.plugin.types import (
        REDACTED,
        SecretEnvironmentVariable,
        SecretFile,
        SecretKey,
        SecretKeyOptional,
        SecretNone,
        SecretText,
        SecretTextOptional,
        SecretTextValue,
        SecretValue,
        reveal,
    )

__all__ = [
    "ENTRY_POINT_GROUP",
    "MAIL_RECORD_TYPES",
    "REDACTED",
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
    "PartialApplyError",
    "PluginError",
    "Provider",
    "ProviderContext",
    "ProviderError",
    "ProviderInfo",
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

_SOURCE = {
    "ENTRY_POINT_GROUP": "registry",
    "MAIL_RECORD_TYPES": "provider",
    "REDACTED": "types",
    "AuthenticationError": "errors",
    "Capabilities": "provider",
    "Change": "changes",
    "ConfigError": "errors",
    "ConfigProblem": "errors",
    "ConflictError": "errors",
    "Create": "changes",
    "Delete": "changes",
    "DnsServerBase": "settings",
    "DnsautoError": "errors",
    "PartialApplyError": "errors",
    "PluginError": "errors",
    "Provider": "provider",
    "ProviderContext": "context",
    "ProviderError": "errors",
    "ProviderInfo": "registry",
    "Registry": "registry",
    "SecretEnvironmentVariable": "types",
    "SecretError": "errors",
    "SecretFile": "types",
    "SecretKey": "types",
    "SecretKeyOptional": "types",
    "SecretNone": "types",
    "SecretText": "types",
    "SecretTextOptional": "types",
    "SecretTextValue": "types",
    "SecretValue": "types",
    "TransientError": "errors",
    "UnsupportedError": "errors",
    "Update": "changes",
    "Zone": "provider",
    "ZoneNotFoundError": "errors",
    "canonical_order": "names",
    "comparable_value": "changes",
    "load_registry": "registry",
    "reveal": "types",
    "rrset_of": "changes",
    "rrset_values": "changes",
}


def __getattr__(name: str) -> Any:
    module = _SOURCE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
