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
"""

from __future__ import annotations

from dnsauto.changes import Change, Create, Delete, Update, comparable_value, rrset_values
from dnsauto.config.dnsserver import DnsServerBase
from dnsauto.config.types import (
    REDACTED,
    SecretEnvironmentVariable,
    SecretFile,
    SecretKey,
    SecretKeyOptional,
    SecretNone,
    SecretText,
    SecretValue,
    reveal,
)
from dnsauto.errors import (
    AuthenticationError,
    ConfigError,
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
from dnsauto.provider import (
    ENTRY_POINT_GROUP,
    MAIL_RECORD_TYPES,
    Capabilities,
    Provider,
    ProviderContext,
    ProviderInfo,
    Registry,
    Zone,
    load_registry,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "MAIL_RECORD_TYPES",
    "REDACTED",
    "AuthenticationError",
    "Capabilities",
    "Change",
    "ConfigError",
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
    "SecretValue",
    "TransientError",
    "UnsupportedError",
    "Update",
    "Zone",
    "ZoneNotFoundError",
    "comparable_value",
    "load_registry",
    "reveal",
    "rrset_values",
]
