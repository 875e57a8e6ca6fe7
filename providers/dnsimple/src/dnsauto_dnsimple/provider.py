"""The ``Dnsimple`` DnsServer: DNSimple's API v2, through the toolkit's HTTP client.

Zones are found by listing the account's zones (cached per instance, listed again on a miss);
records are read a zone at a time, every page of 100; each RRset change becomes the fewest
per-record calls (create 201, ``PATCH`` 200, delete 204), made one by one.
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
    AuthenticationError,
    Capabilities,
    Change,
    DnsServerBase,
    Provider,
    ProviderContext,
    SecretKey,
    Zone,
    reveal,
)
from dnsauto.plugin import rdata_forms as forms
from dnsauto.plugin.batches import refuse_unsupported_types
from dnsauto.plugin.http import HttpClient, RateLimit
from dnsauto.plugin.record_ids import (
    ListedRecord,
    NewRecord,
    RecordDelete,
    RecordIds,
    RecordUpdate,
    apply_record_by_record,
)
from dnsauto.plugin.zones import Page, ZoneList, all_pages

__all__ = ["API_URL", "DnsimpleDnsServer", "DnsimpleProvider"]

API_URL = "https://api.dnsimple.com/v2"
PER_PAGE = 100  # DNSimple's maximum; its default is 30


class DnsimpleDnsServer(DnsServerBase):
    """DNSimple DNS server."""

    type: Literal["Dnsimple"] = Field(alias="@type")
    auth_token: Annotated[
        SecretKey, Field(description="The authentication token used to authenticate with DNSimple")
    ]
    account_identifier: Annotated[
        str, Field(description="The account ID used to authenticate with DNSimple")
    ]
    secret: Annotated[
        SecretKey | None,
        Field(description="Unused (Stalwart v0.16.0-v0.16.5 required it; v0.16.6 removed it)"),
    ] = None


class DnsimpleProvider(Provider[DnsimpleDnsServer]):
    type_name = "Dnsimple"
    settings_model = DnsimpleDnsServer
    capabilities = Capabilities(
        record_types=MAIL_RECORD_TYPES - {dns.rdatatype.TLSA},
        max_changes_per_batch=1,  # one RRset per apply: the journal knows what was written
        can_list_names=False,
    )

    def __init__(self, settings: DnsimpleDnsServer, context: ProviderContext, **http: Any):
        super().__init__(settings, context)
        self.http = HttpClient.for_server(
            "Dnsimple",
            API_URL,
            settings,
            context,
            http,
            auth=lambda: {"Authorization": f"Bearer {reveal(settings.auth_token)}"},
            credential_fields=("authToken", "accountIdentifier"),
            rate_limit=RateLimit(2400, 3600),
            rate_limit_reset_header="X-RateLimit-Reset",
            error_detail=_error_detail,
        )
        self.ids = RecordIds()
        self.zones = ZoneList("Dnsimple", self._list_zones)
        self._account = f"/{settings.account_identifier}"

    async def _pages(self, path: str) -> list[dict[str, Any]]:
        # an account the token does not reach answers 404 on every path under it
        not_reached = {404: AuthenticationError} if path == "/zones" else None

        async def page(number: int) -> Page[dict[str, Any]]:
            body = (await self.http.request("GET", self._account + path, errors=not_reached,
                    params={"page": number, "per_page": PER_PAGE})).body  # fmt: skip
            info = body.get("pagination") or {}
            return Page(body["data"], info.get("current_page", number) < info.get("total_pages", 0))

        return await all_pages(page)

    async def find_zone(self, name: dns.name.Name) -> Zone:
        return await self.zones.find(name)

    async def _list_zones(self) -> list[Zone]:
        zones = await self._pages("/zones")
        return [Zone(forms.owner_from_fqdn(z["name"]), z["name"]) for z in zones]

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        records = await self._pages(f"/zones/{zone.id}/records")
        parsed = [p for p in (_parse(r, zone.name) for r in records) if p is not None]
        return self.ids.rrsets_from_listing(parsed, names)

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        supported = self.capabilities.record_types
        refuse_unsupported_types(changes, supported, provider="Dnsimple", zone=str(zone))
        path = f"{self._account}/zones/{zone.id}/records"

        async def delete(call: RecordDelete) -> None:
            await self.http.request("DELETE", f"{path}/{call.id}")

        async def update(call: RecordUpdate) -> str:
            body = _body(call, zone.name)
            del body["type"]  # DNSimple does not change a record's type
            answer = await self.http.request("PATCH", f"{path}/{call.id}", json=body)
            return str(answer.body["data"]["id"])

        async def create(call: NewRecord) -> str:
            answer = await self.http.request("POST", path, json=_body(call, zone.name))
            return str(answer.body["data"]["id"])

        await apply_record_by_record(changes, self.ids, delete=delete, update=update, create=create)

    async def aclose(self) -> None:
        await self.http.aclose()


def _body(record: NewRecord | RecordUpdate, zone: dns.name.Name) -> dict[str, Any]:
    rdtype, rdata = dns.rdatatype.to_text(record.rdtype), record.rdata
    body: dict[str, Any] = {"name": forms.owner_relative(record.name, zone, apex=""),
                            "type": rdtype, "ttl": record.ttl}  # fmt: skip
    if rdtype == "MX":
        priority, exchange = forms.mx_fields(rdata)
        body |= {"priority": priority, "content": forms.host_text(exchange, trailing_dot=False)}
    elif rdtype == "SRV":
        srv = forms.srv_fields(rdata)
        target = forms.host_text(srv.target, trailing_dot=False)
        body |= {"priority": srv.priority, "content": f"{srv.weight} {srv.port} {target}"}
    elif rdtype == "TXT":
        body["content"] = forms.txt_quoted(rdata)
    else:
        body["content"] = rdata.to_text().rstrip(".")
    return body


def _parse(record: dict[str, Any], zone: dns.name.Name) -> ListedRecord | None:
    """A DNSimple record as (name, type, rdata, id, ttl); ``None`` for system records (SOA,
    apex NS) and types dnsauto does not read (ALIAS, URL, ...)."""
    rdtype_text, content = record["type"], record.get("content") or ""
    if record.get("system_record"):
        return None
    try:
        rdtype = dns.rdatatype.from_text(rdtype_text)
        if rdtype_text == "MX":
            rdata = forms.mx_rdata(int(record.get("priority") or 0), content)
        elif rdtype_text == "SRV":
            rdata = forms.rdata_from_text(rdtype, f"{record.get('priority') or 0} {content}")
        elif rdtype_text == "TXT":
            quoted = content.startswith('"')
            rdata = forms.txt_from_quoted(content) if quoted else forms.txt_from_joined(content)
        else:
            rdata = forms.rdata_from_text(rdtype, content)
    except (ValueError, KeyError, dns.rdatatype.UnknownRdatatype):
        return None
    name = forms.owner_from_relative(record["name"], zone)
    return name, rdtype, rdata, str(record["id"]), int(record.get("ttl") or 3600)


def _error_detail(body: Any) -> str:
    """``message``, and the fields a validation error names (``content: can't be blank``)."""
    if not isinstance(body, dict):
        return ""
    fields = body.get("errors")
    if not isinstance(fields, dict):
        fields = {}
    found = [f"{k}: {', '.join(map(str, v))}" for k, v in fields.items()]
    return "; ".join([str(body.get("message") or ""), *found]).strip("; ")
