"""The ``Porkbun`` DnsServer: Porkbun's JSON API v3, record by record, through the toolkit.

Every call is a ``POST`` whose JSON body carries ``apikey`` and ``secretapikey`` (the toolkit
adds them and scrubs them from errors). Zones come from ``/domain/listAll`` (cached, listed
again on a miss); a zone's records from one ``/dns/retrieve/{domain}``, whose names are fully
qualified and whose ``id``, ``ttl`` and ``prio`` are strings; each RRset change becomes the fewest
record calls by id (``/dns/delete``, ``/dns/edit``, ``/dns/create`` with the name relative to the
zone). ``editByNameType`` is never used: it answers SUCCESS and creates nothing when the RRset
does not exist yet (Stalwart's dns-update#67). Errors come as ``{"status": "ERROR"}`` bodies,
with HTTP 400 or 200; throttling is an HTML 503, retried as transient.
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
    AuthenticationError,
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
from dnsauto.plugin.http import HttpClient, HttpResponse, RateLimit, api_url
from dnsauto.plugin.record_ids import (
    ListedRecord,
    NewRecord,
    RecordDelete,
    RecordIds,
    RecordUpdate,
    apply_record_by_record,
)
from dnsauto.plugin.zones import Page, all_pages, zone_for

__all__ = ["API_URL", "MIN_TTL", "PorkbunDnsServer", "PorkbunProvider"]

API_URL = "https://api.porkbun.com/api/json/v3"
MIN_TTL = 600  # "The minimum and the default is 600 seconds" (Porkbun's API documentation)
_HOSTS = ("CNAME", "NS")
_DOMAINS_PAGE = 1000  # /domain/listAll answers at most 1,000 domains from ``start``


class PorkbunDnsServer(DnsServerBase):
    """Porkbun DNS server."""

    type: Literal["Porkbun"] = Field(alias="@type")
    api_key: Annotated[str, Field(description="The API key used to authenticate with Porkbun")]
    secret_api_key: Annotated[
        SecretKey, Field(description="The secret API key used to authenticate with Porkbun")
    ]
    secret: Annotated[
        SecretKey | None,
        Field(description="Unused (Stalwart's seed requires it; the secret API key is used)"),
    ] = None


class PorkbunProvider(Provider[PorkbunDnsServer]):
    type_name = "Porkbun"
    settings_model = PorkbunDnsServer
    capabilities = Capabilities(
        max_changes_per_batch=1,  # one RRset per apply: the journal knows what was written
        can_list_names=False,
    )

    def __init__(self, settings: PorkbunDnsServer, context: ProviderContext, **http: Any) -> None:
        super().__init__(settings, context)
        self.http = HttpClient(
            **{
                "base_url": api_url("Porkbun", API_URL),
                "provider": "Porkbun",
                "server_id": context.server_id,
                "counters": context.counters,
                "timeout": settings.timeout.total_seconds(),
                "body_auth": lambda: {"apikey": settings.api_key,
                                      "secretapikey": reveal(settings.secret_api_key)},
                "credential_fields": ("apiKey", "secretApiKey"),
                # Support: "about 60 / minute ... bursting up to 5 / second"; ~1/s sustained.
                "rate_limit": RateLimit(60, 60),
                "throttle_statuses": (429, 503),  # an openresty HTML 503 when over the limit
                "error_kind": _error_kind,
                **http,
            }
        )  # fmt: skip
        self.ids = RecordIds()
        self._zones: list[Zone] | None = None

    async def _post(self, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        return (await self.http.request("POST", path, json=body or {}, **kw)).body

    async def find_zone(self, name: dns.name.Name) -> Zone:
        if self._zones is not None:
            try:
                return zone_for(name, self._zones, "Porkbun")
            except ZoneNotFoundError:
                pass  # a domain added since: list again

        async def page(number: int) -> Page[dict[str, Any]]:
            body = await self._post("/domain/listAll", {"start": (number - 1) * _DOMAINS_PAGE})
            domains = list(body.get("domains") or [])
            return Page(domains, len(domains) >= _DOMAINS_PAGE)

        self._zones = [Zone(forms.owner_from_fqdn(d["domain"]), d["domain"], min_ttl=MIN_TTL)
                       for d in await all_pages(page)]  # fmt: skip
        return zone_for(name, self._zones, "Porkbun")

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        body = await self._post(f"/dns/retrieve/{zone.id}")
        parsed = [p for p in (_parse(r, zone.name) for r in body.get("records") or []) if p]
        return self.ids.rrsets_from_listing(parsed, names)

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        async def delete(call: RecordDelete) -> None:
            await self._post(f"/dns/delete/{zone.id}/{call.id}")

        async def update(call: RecordUpdate) -> str:
            await self._post(f"/dns/edit/{zone.id}/{call.id}", _body(call, zone.name))
            return call.id

        async def create(call: NewRecord) -> str:
            # Not sent again after a 5xx other than the throttling 503: it may have been created.
            body = await self._post(f"/dns/create/{zone.id}", _body(call, zone.name),
                                    retry_unsafe=False)  # fmt: skip
            return str(body["id"])  # a JSON number here, a string in listings

        await apply_record_by_record(changes, self.ids, delete=delete, update=update, create=create)

    async def aclose(self) -> None:
        await self.http.aclose()


def _error_kind(response: HttpResponse) -> type[ProviderError] | None:
    """Porkbun's ``{"status": "ERROR", "message": ...}``, whatever the HTTP status."""
    body = response.body
    if not isinstance(body, dict) or body.get("status") != "ERROR":
        return None
    message = str(body.get("message") or "")
    if "API key" in message or "API access" in message:
        return AuthenticationError
    if message.startswith("Invalid domain"):
        return ZoneNotFoundError
    return ProviderError


def _body(record: NewRecord | RecordUpdate, zone: dns.name.Name) -> dict[str, Any]:
    rdtype, rdata = dns.rdatatype.to_text(record.rdtype), record.rdata
    body: dict[str, Any] = {"name": forms.owner_relative(record.name, zone, apex=""),
                            "type": rdtype, "ttl": str(record.ttl)}  # fmt: skip
    if rdtype == "MX":
        priority, exchange = forms.mx_fields(rdata)
        body |= {"content": forms.host_text(exchange, trailing_dot=False), "prio": str(priority)}
    elif rdtype == "SRV":
        srv = forms.srv_fields(rdata)
        target = forms.host_text(srv.target, trailing_dot=False)
        body |= {"content": f"{srv.weight} {srv.port} {target}", "prio": str(srv.priority)}
    elif rdtype == "TXT":
        body["content"] = forms.txt_joined(rdata)  # unquoted, as Porkbun stores it
    elif rdtype in _HOSTS:
        body["content"] = forms.host_text(getattr(rdata, "target"), trailing_dot=False)  # noqa: B009
    else:
        body["content"] = rdata.to_text()
    return body


def _parse(record: dict[str, Any], zone: dns.name.Name) -> ListedRecord | None:
    """A retrieved record as (name, type, rdata, id, ttl); ``None`` for what does not parse."""
    rdtype_text, content = str(record.get("type")), str(record.get("content") or "")
    try:
        rdtype = dns.rdatatype.from_text(rdtype_text)
        if rdtype_text == "MX":
            rdata = forms.mx_rdata(int(record.get("prio") or 0), content)
        elif rdtype_text == "SRV":
            weight, port, target = content.split()
            rdata = forms.srv_rdata(int(record.get("prio") or 0), int(weight), int(port), target)
        elif rdtype_text == "TXT":
            rdata = forms.txt_from_joined(content)
        elif rdtype_text in _HOSTS:
            rdata = forms.rdata_from_text(rdtype, forms.target_name(content).to_text())
        else:
            rdata = forms.rdata_from_text(rdtype, content)
    except (ValueError, KeyError, TypeError, dns.rdatatype.UnknownRdatatype):
        return None
    name = forms.owner_from_fqdn(str(record["name"]))
    if not name.is_subdomain(zone):
        return None
    return name, rdtype, rdata, str(record["id"]), int(record.get("ttl") or MIN_TTL)
