"""The ``DigitalOcean`` DnsServer: DigitalOcean's API v2, record by record, through the toolkit.

Zones are found by listing the account's domains (cached per instance, listed again on a
miss); records are read a zone at a time, 200 a page, following ``links.pages.next``; an RRset
change becomes the fewest record calls (``PUT`` a changed value in place, ``DELETE`` a removed
one, ``POST`` an added one) with the ids learnt from the listing.
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
    MAIL_RECORD_TYPES,
    Capabilities,
    Change,
    DnsServerBase,
    Provider,
    ProviderContext,
    ProviderError,
    SecretKey,
    Zone,
    ZoneNotFoundError,
    reveal,
)
from dnsauto.plugin import rdata_forms as forms
from dnsauto.plugin.batches import refuse_unsupported_types
from dnsauto.plugin.http import HttpClient, HttpStatusError, RateLimit
from dnsauto.plugin.record_ids import (
    ListedRecord,
    NewRecord,
    RecordDelete,
    RecordIds,
    RecordUpdate,
    apply_record_by_record,
)
from dnsauto.plugin.zones import ZoneList, all_linked

__all__ = ["API_URL", "MIN_TTL", "DigitalOceanDnsServer", "DigitalOceanProvider"]

API_URL = "https://api.digitalocean.com/v2"
MIN_TTL = 30  # the control panel's lowest TTL; lego's default for DigitalOcean
_RECORD_TYPES = MAIL_RECORD_TYPES - {dns.rdatatype.TLSA}
_HOSTS = ("CNAME", "NS")


class DigitalOceanDnsServer(DnsServerBase):
    """Cloud DNS server with token authentication."""

    type: Literal["DigitalOcean"] = Field(alias="@type")
    secret: Annotated[
        SecretKey, Field(description="The secret or token used to authenticate with the DNS server")
    ]


class DigitalOceanProvider(Provider[DigitalOceanDnsServer]):
    type_name = "DigitalOcean"
    settings_model = DigitalOceanDnsServer
    # One RRset per apply: a failure then tells the core exactly which changes were applied.
    capabilities = Capabilities(
        record_types=_RECORD_TYPES, max_changes_per_batch=1, can_list_names=False
    )

    def __init__(
        self, settings: DigitalOceanDnsServer, context: ProviderContext, **http: Any
    ) -> None:
        super().__init__(settings, context)
        self.http = HttpClient.for_server(
            "DigitalOcean",
            API_URL,
            settings,
            context,
            http,
            auth=lambda: {"Authorization": f"Bearer {reveal(settings.secret)}"},
            rate_limit=RateLimit(250, 60),
        )
        self.ids = RecordIds()
        self.zones = ZoneList("DigitalOcean", self._list_zones)

    async def _pages(self, path: str, key: str) -> list[dict[str, Any]]:
        async def page(url: str) -> tuple[list[dict[str, Any]], str | None]:
            body = await self.http.get(url, errors=_ZONE_GONE)
            following = ((body.get("links") or {}).get("pages") or {}).get("next")
            return body[key], self.http.relative(following) if following else None

        return await all_linked(page, f"{path}?per_page=200")

    async def find_zone(self, name: dns.name.Name) -> Zone:
        return await self.zones.find(name)

    async def _list_zones(self) -> list[Zone]:
        return [Zone(forms.owner_from_fqdn(d["name"]), d["name"], min_ttl=MIN_TTL)
                for d in await self._pages("/domains", "domains")]  # fmt: skip

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        records = await self._pages(f"/domains/{zone.id}/records", "domain_records")
        parsed = [p for p in (_parse(r, zone.name) for r in records) if p is not None]
        return self.ids.rrsets_from_listing(parsed, names)

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        refuse_unsupported_types(changes, _RECORD_TYPES, provider="DigitalOcean", zone=str(zone))
        path = f"/domains/{zone.id}/records"

        async def delete(call: RecordDelete) -> None:
            await self._delete(f"{path}/{call.id}")

        async def update(call: RecordUpdate) -> str:
            await self.http.request("PUT", f"{path}/{call.id}", json=_body(call, zone.name))
            return call.id

        async def create(call: NewRecord) -> str:
            # Not sent again after a 5xx or a lost connection: it may have been created.
            answer = await self.http.request("POST", path, json=_body(call, zone.name),
                                             retry_unsafe=False)  # fmt: skip
            return str(answer.body["domain_record"]["id"])

        await apply_record_by_record(changes, self.ids, delete=delete, update=update, create=create)

    async def _delete(self, path: str) -> None:
        try:
            await self.http.request("DELETE", path)
        except ProviderError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, HttpStatusError) and cause.response.status == 404):
                raise  # a 404 means gone already (a retried DELETE that had been done)

    async def aclose(self) -> None:
        await self.http.aclose()


_ZONE_GONE = {404: ZoneNotFoundError}


def _host(name: dns.name.Name, zone: dns.name.Name) -> str:
    return "@" if name == zone else forms.host_text(name, trailing_dot=True)


def _body(record: NewRecord | RecordUpdate, zone: dns.name.Name) -> dict[str, Any]:
    rdtype, rdata = dns.rdatatype.to_text(record.rdtype), record.rdata
    body: dict[str, Any] = {"type": rdtype, "name": forms.owner_relative(record.name, zone),
                            "ttl": record.ttl}  # fmt: skip
    if rdtype == "MX":
        priority, exchange = forms.mx_fields(rdata)
        body |= {"data": _host(exchange, zone), "priority": priority}
    elif rdtype == "SRV":
        srv = forms.srv_fields(rdata)
        body |= {"data": _host(srv.target, zone), "priority": srv.priority,
                 "weight": srv.weight, "port": srv.port}  # fmt: skip
    elif rdtype == "CAA":
        caa = forms.caa_fields(rdata)
        body |= {"data": caa.value, "flags": caa.flags, "tag": caa.tag}
    elif rdtype == "TXT":
        body["data"] = forms.txt_joined(rdata)
    elif rdtype in _HOSTS:
        body["data"] = _host(getattr(rdata, "target"), zone)  # noqa: B009
    else:
        body["data"] = rdata.to_text()
    return body


def _target(data: str, zone: dns.name.Name) -> str:
    return zone.to_text() if data == "@" else data


def _parse(record: dict[str, Any], zone: dns.name.Name) -> ListedRecord | None:
    """A record as (name, type, rdata, id, ttl); ``None`` for what dnsauto cannot read (SOA)."""
    rdtype_text, data = record["type"], str(record.get("data") or "")
    try:
        rdtype = dns.rdatatype.from_text(rdtype_text)
        if rdtype_text == "MX":
            rdata = forms.mx_rdata(int(record["priority"] or 0), _target(data, zone))
        elif rdtype_text == "SRV":
            rdata = forms.srv_rdata(int(record["priority"] or 0), int(record["weight"] or 0),
                                    int(record["port"] or 0), _target(data, zone))  # fmt: skip
        elif rdtype_text == "CAA":
            rdata = forms.caa_rdata(int(record["flags"] or 0), str(record["tag"]), data)
        elif rdtype_text == "TXT":
            rdata = forms.txt_from_joined(data)
        elif rdtype_text in _HOSTS:
            rdata = forms.rdata_from_text(rdtype, forms.target_name(_target(data, zone)).to_text())
        else:
            rdata = forms.rdata_from_text(rdtype, data)
    except (ValueError, KeyError, TypeError, dns.rdatatype.UnknownRdatatype):
        return None
    name = forms.owner_from_relative(record["name"], zone)
    return name, rdtype, rdata, str(record["id"]), int(record.get("ttl") or 1800)
