"""The ``Zonebox`` DnsServer: Zonebox's RRset-level HTTP API, through dnsauto's toolkit.

Zonebox stores RRsets, not records: ``GET /zones`` lists the account's zones (paged),
``GET /zones/{zone}/rrsets`` a zone's RRsets, ``PUT /zones/{zone}/rrsets/{name}/{type}``
writes a whole RRset and ``DELETE`` removes one (see the plugin's README). Values are
zone-file text with absolute names, so no field mapping is needed; one call per RRset change.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Annotated, Any, Literal

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from pydantic import Field

from dnsauto.plugin import (
    Capabilities,
    Change,
    Delete,
    DnsServerBase,
    Provider,
    ProviderContext,
    SecretKey,
    Zone,
    ZoneNotFoundError,
    reveal,
)
from dnsauto.plugin import rdata_forms as forms
from dnsauto.plugin.batches import ApplyProgress
from dnsauto.plugin.http import HttpClient, RateLimit
from dnsauto.plugin.zones import Page, all_pages, zone_for

__all__ = ["API_URL", "ZoneboxDnsServer", "ZoneboxProvider"]

API_URL = "https://api.zonebox.example/v1"
RATE_LIMIT = RateLimit(10, 1)  # Zonebox's documented limit: 10 requests a second per token


class ZoneboxDnsServer(DnsServerBase):
    """Zonebox DNS hosting, with an API token."""

    type: Literal["Zonebox"] = Field(alias="@type")
    secret: Annotated[SecretKey, Field(description="The Zonebox API token")]


class ZoneboxProvider(Provider[ZoneboxDnsServer]):
    type_name = "Zonebox"
    settings_model = ZoneboxDnsServer
    capabilities = Capabilities(can_list_names=False)  # a listing is always the whole zone

    def __init__(self, settings: ZoneboxDnsServer, context: ProviderContext, **http: Any) -> None:
        super().__init__(settings, context)
        self.http = HttpClient.for_server(
            "Zonebox",
            API_URL,
            settings,
            context,
            http,  # tests pass base_url and a FakeClock
            auth=lambda: {"Authorization": f"Bearer {reveal(settings.secret)}"},
            rate_limit=RATE_LIMIT,
        )

    async def find_zone(self, name: dns.name.Name) -> Zone:
        async def page(number: int) -> Page[dict[str, Any]]:
            body = await self.http.get("/zones", params={"page": number})
            return Page(body["zones"], body.get("next_page") is not None)

        zones = [Zone(forms.owner_from_fqdn(z["name"]), z["name"], min_ttl=z.get("min_ttl"))
                 for z in await all_pages(page)]  # fmt: skip
        return zone_for(name, zones, "Zonebox")

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        body = await self.http.get(f"/zones/{zone.id}/rrsets", errors={404: ZoneNotFoundError})
        rrsets = []
        for item in body["rrsets"]:
            name = forms.owner_from_relative(item["name"], zone.name)
            if names is not None and name not in names:
                continue
            try:
                rdtype = dns.rdatatype.from_text(item["type"])
                rdatas = [forms.rdata_from_text(rdtype, value) for value in item["values"]]
            except (ValueError, dns.rdatatype.UnknownRdatatype):
                continue  # a type or value dnsauto does not read: left alone
            rrset = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
            for rdata in rdatas:
                rrset.add(rdata, int(item["ttl"]))
            rrsets.append(rrset)
        return rrsets

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        async def send(change: Change) -> None:
            rrset = change.old if isinstance(change, Delete) else change.new
            owner = forms.owner_relative(rrset.name, zone.name)
            path = f"/zones/{zone.id}/rrsets/{owner}/{dns.rdatatype.to_text(rrset.rdtype)}"
            if isinstance(change, Delete):
                await self.http.request("DELETE", path)  # 204 even when already gone
            else:
                values = [rdata.to_text() for rdata in rrset]
                await self.http.request("PUT", path, json={"ttl": rrset.ttl, "values": values})

        # One call per change: when one fails, the error names the changes that went through.
        await ApplyProgress(changes, enumerate(changes)).one_by_one(send)

    async def aclose(self) -> None:
        await self.http.aclose()
