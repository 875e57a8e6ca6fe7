"""An in-memory DNS host for the core's tests: zones are dicts of RRsets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

import dns.name
import dns.rdatatype
import dns.rrset
from pydantic import Field

from dnsauto.plugin.changes import Change, Create, Delete, Update
from dnsauto.plugin.errors import ConflictError, ZoneNotFoundError
from dnsauto.plugin.provider import Capabilities, Provider, Zone
from dnsauto.plugin.registry import ProviderInfo, Registry
from dnsauto.plugin.settings import DnsServerBase
from dnsauto.plugin.types import SecretKey
from dnsauto.sync.manual import ManualProvider

Key = tuple[dns.name.Name, dns.rdatatype.RdataType]


class MemorySettings(DnsServerBase):
    type: Literal["Memory"] = Field(alias="@type")
    zones: tuple[str, ...] = ("example.test",)
    port: int = 53
    secret: SecretKey | None = None


class MemoryHost:
    """The DNS host's data, shared by every provider instance made for it."""

    def __init__(self) -> None:
        self.zones: dict[dns.name.Name, dict[Key, dns.rrset.RRset]] = {}
        self.apply_calls: list[list[Change]] = []
        self.list_calls = 0

    def add_zone(self, name: str) -> dict[Key, dns.rrset.RRset]:
        return self.zones.setdefault(dns.name.from_text(name), {})

    def put(self, rrset: dns.rrset.RRset) -> None:
        zone = max((z for z in self.zones if rrset.name.is_subdomain(z)), key=len)
        self.zones[zone][(rrset.name, rrset.rdtype)] = rrset


HOST = MemoryHost()


class MemoryProvider(Provider[MemorySettings]):
    type_name = "Memory"
    settings_model = MemorySettings
    capabilities = Capabilities(max_changes_per_batch=50, atomic_batches=True)
    host = HOST

    async def find_zone(self, name: dns.name.Name) -> Zone:
        while True:
            if name in self.host.zones:
                return Zone(name=name)
            if name == dns.name.root:
                raise ZoneNotFoundError(provider=self.context.server_id, name=name.to_text())
            name = name.parent()

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        self.host.list_calls += 1
        records = self.host.zones[zone.name]
        wanted = set(names) if names is not None else None
        return [r for (n, _), r in records.items() if wanted is None or n in wanted]

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        self.host.apply_calls.append(list(changes))
        records = self.host.zones[zone.name]
        for change in changes:
            key = (change.name, change.rdtype)
            current = records.get(key)
            if isinstance(change, Create) and current is not None:
                raise ConflictError("RRset exists", zone=str(zone), name=str(change.name))
            if isinstance(change, Update | Delete) and current != change.old:
                raise ConflictError("RRset changed", zone=str(zone), name=str(change.name))
        for change in changes:
            key = (change.name, change.rdtype)
            if isinstance(change, Delete):
                del records[key]
            else:
                records[key] = change.new


def memory_registry() -> Registry:
    return Registry(
        [
            ProviderInfo("Manual", ManualProvider, "dnsauto", "0"),
            ProviderInfo("Memory", MemoryProvider, "tests", "0"),
        ]
    )
