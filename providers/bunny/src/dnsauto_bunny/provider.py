"""The ``Bunny`` DnsServer: the bunny.net DNS API, through the toolkit's HTTP client.

Zones are found by listing the account's DNS zones (cached per instance, listed again on a
miss); a zone's records come with ``GET /dnszone/{id}``; each RRset change becomes the fewest
per-record calls (add ``PUT`` 201, update ``POST`` 204, delete 204), made one by one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Annotated, Any, Literal

import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset
from pydantic import Field

from dnsauto.plugin import (
    Capabilities,
    Change,
    DnsServerBase,
    Provider,
    ProviderContext,
    SecretKey,
    Zone,
    ZoneNotFoundError,
    reveal,
)
from dnsauto.plugin import rdata_forms as forms
from dnsauto.plugin.http import HttpClient
from dnsauto.plugin.record_ids import (
    ListedRecord,
    NewRecord,
    RecordDelete,
    RecordIds,
    RecordUpdate,
    apply_record_by_record,
)
from dnsauto.plugin.zones import Page, ZoneList, all_pages

__all__ = ["API_URL", "TYPE_CODES", "BunnyDnsServer", "BunnyProvider"]

API_URL = "https://api.bunny.net"
TYPE_CODES = {"A": 0, "AAAA": 1, "CNAME": 2, "TXT": 3, "MX": 4, "SRV": 8, "CAA": 9, "PTR": 10,
              "NS": 12, "SVCB": 13, "HTTPS": 14, "TLSA": 15}  # fmt: skip
"""Bunny's integer record ``Type`` for each DNS type it serves (5-7 and 11 are Bunny's own)."""
_TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}


class BunnyDnsServer(DnsServerBase):
    """Cloud DNS server with token authentication."""

    type: Literal["Bunny"] = Field(alias="@type")
    secret: Annotated[
        SecretKey, Field(description="The secret or token used to authenticate with the DNS server")
    ]


class BunnyProvider(Provider[BunnyDnsServer]):
    type_name = "Bunny"
    settings_model = BunnyDnsServer
    capabilities = Capabilities(
        max_changes_per_batch=1,  # one RRset per apply: the journal knows what was written
        can_list_names=False,
    )

    def __init__(self, settings: BunnyDnsServer, context: ProviderContext, **http: Any) -> None:
        super().__init__(settings, context)
        self.http = HttpClient.for_server(
            "Bunny",
            API_URL,
            settings,
            context,
            http,
            auth=lambda: {"AccessKey": reveal(settings.secret)},
            error_detail=_error_detail,
        )
        self.ids = RecordIds()
        self.zones = ZoneList("Bunny", self._list_zones)

    async def find_zone(self, name: dns.name.Name) -> Zone:
        return await self.zones.find(name)

    async def _list_zones(self) -> list[Zone]:
        async def page(number: int) -> Page[dict[str, Any]]:
            body = await self.http.get("/dnszone", params={"page": number, "perPage": 1000})
            return Page(body["Items"], bool(body.get("HasMoreItems")))

        return [Zone(forms.owner_from_fqdn(z["Domain"]), str(z["Id"]))
                for z in await all_pages(page)]  # fmt: skip

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        body = await self.http.request(
            "GET", f"/dnszone/{zone.id}", errors={404: ZoneNotFoundError}
        )
        parsed = [p for p in (_parse(r, zone.name) for r in body.body["Records"]) if p]
        return self.ids.rrsets_from_listing(parsed, names)

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        path = f"/dnszone/{zone.id}/records"

        async def delete(call: RecordDelete) -> None:
            await self.http.request("DELETE", f"{path}/{call.id}")

        async def update(call: RecordUpdate) -> str:
            body = {"Id": int(call.id), **_body(call, zone.name)}
            await self.http.request("POST", f"{path}/{call.id}", json=body)
            return call.id

        async def create(call: NewRecord) -> str:
            answer = await self.http.request("PUT", path, json=_body(call, zone.name))
            return str(answer.body["Id"])

        await apply_record_by_record(changes, self.ids, delete=delete, update=update, create=create)

    async def aclose(self) -> None:
        await self.http.aclose()


def _body(record: NewRecord | RecordUpdate, zone: dns.name.Name) -> dict[str, Any]:
    rdtype, rdata = dns.rdatatype.to_text(record.rdtype), record.rdata
    body: dict[str, Any] = {"Type": TYPE_CODES[rdtype], "Ttl": record.ttl,
                            "Name": forms.owner_relative(record.name, zone, apex="")}  # fmt: skip
    if rdtype == "MX":
        priority, exchange = forms.mx_fields(rdata)
        body |= {"Priority": priority, "Value": forms.host_text(exchange, trailing_dot=False)}
    elif rdtype == "SRV":
        srv = forms.srv_fields(rdata)
        body |= {"Priority": srv.priority, "Weight": srv.weight, "Port": srv.port,
                 "Value": forms.host_text(srv.target, trailing_dot=False)}  # fmt: skip
    elif rdtype == "CAA":
        caa = forms.caa_fields(rdata)
        body |= {"Flags": caa.flags, "Tag": caa.tag, "Value": caa.value}
    elif rdtype == "TXT":
        body["Value"] = forms.txt_joined(rdata)  # one string: Bunny splits it when it serves it
    else:
        body["Value"] = rdata.to_text().rstrip(".")
    return body


def _parse(record: dict[str, Any], zone: dns.name.Name) -> ListedRecord | None:
    """A Bunny record as (name, type, rdata, id, ttl); ``None`` for Bunny's own types
    (Redirect, Flatten, PullZone, Script) and values that do not parse."""
    rdtype_text, value = _TYPE_NAMES.get(record.get("Type", -1)), record.get("Value") or ""
    if rdtype_text is None:
        return None
    try:
        rdtype = dns.rdatatype.from_text(rdtype_text)
        if rdtype_text == "MX":
            rdata = forms.mx_rdata(int(record.get("Priority") or 0), value)
        elif rdtype_text == "SRV":
            priority, weight, port = (
                int(record.get(k) or 0) for k in ("Priority", "Weight", "Port")
            )
            rdata = forms.srv_rdata(priority, weight, port, value)
        elif rdtype_text == "CAA":
            rdata = forms.caa_rdata(int(record.get("Flags") or 0), record["Tag"], value)
        elif rdtype_text == "TXT":
            rdata = forms.txt_from_joined(value)
        else:
            rdata = forms.rdata_from_text(rdtype, value)
    except (ValueError, KeyError, UnicodeError):
        return None
    name = forms.owner_from_relative(record.get("Name") or "", zone)
    return name, rdtype, rdata, str(record["Id"]), int(record.get("Ttl") or 300)


def _error_detail(body: Any) -> str:
    """Bunny's ``{ErrorKey, Field, Message}``, as ``Message (Field)``."""
    if not isinstance(body, dict):
        return ""
    where = f" ({body['Field']})" if body.get("Field") else ""
    return f"{body.get('Message') or body.get('ErrorKey') or ''}{where}"
