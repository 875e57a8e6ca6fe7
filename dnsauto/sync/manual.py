"""The ``Manual`` provider: records are entered by a person, dnsauto prints what to enter."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import dns.name
import dns.rrset

from dnsauto.plugin.changes import Change, Create, Delete, Update
from dnsauto.plugin.provider import Capabilities, Provider, Zone
from dnsauto.plugin.settings import ManualDnsServer

__all__ = ["ManualProvider"]


class ManualProvider(Provider[ManualDnsServer]):
    """Prints the changes as a zone fragment; it cannot read or write any DNS host."""

    type_name = "Manual"
    settings_model = ManualDnsServer
    capabilities = Capabilities(can_read=False, can_list_names=False, requires_person=True)

    async def find_zone(self, name: dns.name.Name) -> Zone:
        return Zone(name=name)

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        return []

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        from dnsauto.records.zonefile import to_zone_text

        lines = [f"; zone {zone.name.to_text()}: enter these records at your DNS host"]
        added = [c.new for c in changes if isinstance(c, Create | Update)]
        removed = [c.old for c in changes if isinstance(c, Delete)]
        lines.append(to_zone_text(added))
        if removed:
            lines.append("; and remove these:")
            lines.append(to_zone_text(removed, comment=True))
        self.context.instructions.append("\n".join(line for line in lines if line))
