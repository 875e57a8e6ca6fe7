"""The ``Cloudflare`` DnsServer: Cloudflare's API v4, through the toolkit's HTTP client.

Zones are found by listing the account's zones (cached per instance, listed again on a miss);
records are read a zone at a time, every page; changes go out as ``POST
/zones/{id}/dns_records/batch`` (one transaction), record by record when a batch is refused.
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
    ProviderError,
    SecretKey,
    Zone,
    reveal,
)
from dnsauto.plugin import rdata_forms as forms
from dnsauto.plugin.batches import ApplyProgress, chunks
from dnsauto.plugin.http import HttpClient, RateLimit
from dnsauto.plugin.record_ids import (
    ListedRecord,
    NewRecord,
    RecordCall,
    RecordDelete,
    RecordIds,
    RecordUpdate,
    indexed_calls,
)
from dnsauto.plugin.zones import Page, ZoneList, all_pages

__all__ = ["API_URL", "CloudflareDnsServer", "CloudflareProvider"]

API_URL = "https://api.cloudflare.com/client/v4"
BATCH_RECORDS = 200  # the Free plan's limit per batch; paid plans allow 3,500
AUTOMATIC_TTL = 300  # Cloudflare's "automatic" TTL (ttl 1)
Op = tuple[str, dict[str, Any]]
"""One record operation of a batch: ``("deletes" | "patches" | "posts", item)``."""
_Op = tuple[int, Op]
_FIELDS = {"SRV": ("priority", "weight", "port", "target"), "CAA": ("flags", "tag", "value"),
           "TLSA": ("usage", "selector", "matching_type", "certificate")}  # fmt: skip


class CloudflareDnsServer(DnsServerBase):
    """Cloudflare DNS server."""

    type: Literal["Cloudflare"] = Field(alias="@type")
    secret: Annotated[
        SecretKey, Field(description="The secret or token used to authenticate with the DNS server")
    ]
    email: Annotated[
        str | None, Field(description="Optional account email to authenticate with Cloudflare")
    ] = None


class CloudflareProvider(Provider[CloudflareDnsServer]):
    type_name = "Cloudflare"
    settings_model = CloudflareDnsServer
    capabilities = Capabilities(max_changes_per_batch=50, can_list_names=False)

    def __init__(
        self, settings: CloudflareDnsServer, context: ProviderContext, **http: Any
    ) -> None:
        super().__init__(settings, context)
        self.http = HttpClient.for_server(
            "Cloudflare",
            API_URL,
            settings,
            context,
            http,
            auth=self._auth,
            credential_fields=("email", "secret") if settings.email else ("secret",),
            rate_limit=RateLimit(1200, 300),
            error_detail=_error_detail,
        )
        self.ids = RecordIds()
        self.zones = ZoneList("Cloudflare", self._list_zones)

    def _auth(self) -> dict[str, str]:
        key = reveal(self.settings.secret)
        if self.settings.email:
            return {"X-Auth-Email": self.settings.email, "X-Auth-Key": key}
        return {"Authorization": f"Bearer {key}"}

    async def _pages(self, path: str, per_page: int) -> list[dict[str, Any]]:
        async def page(number: int) -> Page[dict[str, Any]]:
            body = await self.http.get(path, params={"page": number, "per_page": per_page})
            info = body.get("result_info") or {}
            return Page(body["result"], info.get("page", number) < info.get("total_pages", 0))

        return await all_pages(page)

    async def find_zone(self, name: dns.name.Name) -> Zone:
        return await self.zones.find(name)

    async def _list_zones(self) -> list[Zone]:
        return [
            Zone(forms.owner_from_fqdn(z["name"]), z["id"], min_ttl=60)
            for z in await self._pages("/zones", 50)
        ]

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        records = await self._pages(f"/zones/{zone.id}/dns_records", 500)
        parsed = [p for p in map(_parse, records) if p is not None]
        return self.ids.rrsets_from_listing(parsed, names)

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        calls = indexed_calls(changes, self.ids)
        progress = ApplyProgress(changes, [(i, _op(call)) for i, call in calls])
        for chunk in chunks(progress.calls, BATCH_RECORDS):
            try:
                await self._batch(zone, chunk, progress)
            except ProviderError as exc:
                raise progress.error(exc) from exc

    async def _batch(self, zone: Zone, ops: Sequence[_Op], progress: ApplyProgress[Op]) -> None:
        body: dict[str, list[Any]] = {}
        for _, (kind, item) in ops:
            body.setdefault(kind, []).append(item)
        path = f"/zones/{zone.id}/dns_records"
        try:
            result = (await self.http.request("POST", f"{path}/batch", json=body)).body["result"]
        except ProviderError as exc:
            if exc.transient:
                raise
            await self._one_by_one(path, ops, progress)
            return
        self._learn_result([item for _, (kind, item) in ops if kind != "posts"], result)
        for index, _ in ops:
            progress.done(index)

    async def _one_by_one(self, path: str, ops: Sequence[_Op], progress: ApplyProgress[Op]) -> None:
        """The fallback when a batch is refused: each record alone, then every refusal named."""
        refused: list[str] = []
        for index, (kind, item) in ops:
            try:
                await self._one(path, kind, item)
            except ProviderError as exc:
                if exc.transient:
                    raise
                what = item.get("name") or f"record {item.get('id')}"
                refused.append(f"{kind[:-1]} {item.get('type', '')} {what}: {exc.message}")
                continue
            progress.done(index)
        if refused:
            raise ProviderError(f"{len(refused)} of {len(ops)} records refused: "
                                + "; ".join(refused), provider="Cloudflare")  # fmt: skip

    async def _one(self, path: str, kind: str, item: dict[str, Any]) -> None:
        if kind == "deletes":
            await self.http.request("DELETE", f"{path}/{item['id']}")
            self.ids.forget(item["id"])
            return
        fields = {k: v for k, v in item.items() if k != "id"}
        method, url = ("PATCH", f"{path}/{item['id']}") if kind == "patches" else ("POST", path)
        answer = await self.http.request(method, url, json=fields)
        self._learn_result([item] if kind == "patches" else [], {"posts": [answer.body["result"]]})

    def _learn_result(self, replaced: list[Any], result: dict[str, Any]) -> None:
        for item in replaced:
            self.ids.forget(item["id"])
        for record in (*result.get("patches", ()), *result.get("posts", ())):
            parsed = _parse(record)
            if parsed is not None:
                self.ids.add(*parsed[:4])

    async def aclose(self) -> None:
        await self.http.aclose()


def _op(call: RecordCall) -> Op:
    if isinstance(call, RecordDelete):
        return ("deletes", {"id": call.id})
    if isinstance(call, RecordUpdate):
        return ("patches", {"id": call.id, **_body(call)})
    return ("posts", _body(call))


def _body(record: NewRecord | RecordUpdate) -> dict[str, Any]:
    rdtype = dns.rdatatype.to_text(record.rdtype)
    body: dict[str, Any] = {"type": rdtype, "name": forms.owner_fqdn(record.name),
                            "ttl": record.ttl, "proxied": False}  # fmt: skip
    rdata = record.rdata
    if rdtype == "MX":
        priority, exchange = forms.mx_fields(rdata)
        body |= {"content": forms.host_text(exchange, trailing_dot=False), "priority": priority}
    elif rdtype == "TXT":
        body["content"] = forms.txt_quoted(rdata)
    elif rdtype in _FIELDS:
        body["data"] = _data(rdtype, rdata)
    else:
        body["content"] = rdata.to_text().rstrip(".")
    return body


def _data(rdtype: str, rdata: dns.rdata.Rdata) -> dict[str, Any]:
    if rdtype == "SRV":
        srv = forms.srv_fields(rdata)
        return {"priority": srv.priority, "weight": srv.weight, "port": srv.port,
                "target": forms.host_text(srv.target, trailing_dot=False)}  # fmt: skip
    if rdtype == "CAA":
        caa = forms.caa_fields(rdata)
        return {"flags": caa.flags, "tag": caa.tag, "value": caa.value}
    usage, selector, matching, cert = rdata.to_text().split(" ", 3)
    return {"usage": int(usage), "selector": int(selector), "matching_type": int(matching),
            "certificate": cert.replace(" ", "")}  # fmt: skip


def _parse(
    record: dict[str, Any],
) -> ListedRecord | None:
    """A Cloudflare record as (name, type, rdata, id, ttl); ``None`` for types dnsauto skips."""
    rdtype_text, content, data = record["type"], record.get("content") or "", record.get("data")
    try:
        rdtype = dns.rdatatype.from_text(rdtype_text)
        if rdtype_text == "MX":
            rdata = forms.mx_rdata(int(record.get("priority") or 0), content)
        elif rdtype_text == "TXT":
            quoted = content.startswith('"')
            rdata = forms.txt_from_quoted(content) if quoted else forms.txt_from_joined(content)
        elif rdtype_text == "CAA" and data:
            rdata = forms.caa_rdata(int(data["flags"]), data["tag"], data["value"])
        elif rdtype_text in _FIELDS and data:
            values = [str(data[f]) for f in _FIELDS[rdtype_text]]
            rdata = forms.rdata_from_text(rdtype, " ".join(values))
        else:
            rdata = forms.rdata_from_text(rdtype, content)
    except (ValueError, KeyError, dns.rdatatype.UnknownRdatatype):
        return None
    ttl = int(record.get("ttl") or AUTOMATIC_TTL)
    return (
        forms.owner_from_fqdn(record["name"]),
        rdtype,
        rdata,
        record["id"],
        (AUTOMATIC_TTL if ttl == 1 else ttl),
    )


def _error_detail(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    return "; ".join(f"code {e.get('code')}: {e.get('message')}" for e in errors or [])
