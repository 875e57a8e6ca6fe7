"""The ``Ovh`` DnsServer: OVHcloud API 1.0 ``/domain/zone``, through the toolkit's HTTP client.

Every request but ``/auth/time`` is signed (``$1$`` + SHA1 over the application secret,
consumer key, method, full URL, body and timestamp), the timestamp taken from the server's
clock: the offset read from ``/auth/time`` once, and again when OVH answers that a query is out
of time. Records are listed as ids, then fetched concurrently within the rate limit; each RRset
change becomes the fewest per-record calls, and the zone is refreshed once per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Collection, Sequence
from typing import Annotated, Any, Literal

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
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
    TransientError,
    Zone,
    ZoneNotFoundError,
    reveal,
)
from dnsauto.plugin import rdata_forms as forms
from dnsauto.plugin.http import HttpClient, HttpStatusError, RateLimit, api_url
from dnsauto.plugin.record_ids import (
    NewRecord,
    RecordDelete,
    RecordIds,
    RecordUpdate,
    apply_record_by_record,
)
from dnsauto.plugin.zones import zone_for

__all__ = ["ENDPOINTS", "OvhDnsServer", "OvhProvider"]

ENDPOINTS = {
    "ovh-eu": "https://eu.api.ovh.com/1.0",
    "ovh-ca": "https://ca.api.ovh.com/1.0",
    "kimsufi-eu": "https://eu.api.kimsufi.com/1.0",
    "kimsufi-ca": "https://ca.api.kimsufi.com/1.0",
    "soyoustart-eu": "https://eu.api.soyoustart.com/1.0",
    "soyoustart-ca": "https://ca.api.soyoustart.com/1.0",
}
"""Stalwart's ``ovhEndpoint`` values and their base URLs (python-ovh's ``ENDPOINTS``)."""
FAIR_USE = RateLimit(60, 60.0)
"""OVH's "not over 60 req/min by consumer key" (ovh/python-ovh#81); no limit is documented."""
ZONE_DEFAULT_TTL = 3600
"""What a record's ``ttl`` of 0 ("the zone's default") is read as: OVH's default zone TTL."""
_TXT_LIKE = {"TXT", "SPF", "DKIM", "DMARC"}  # OVH's own field types are served as TXT
_FETCHES = 8  # record fetches in flight at once


class OvhDnsServer(DnsServerBase):
    """OVHcloud DNS server with application key, secret and consumer key."""

    type: Literal["Ovh"] = Field(alias="@type")
    application_key: Annotated[str, Field(description="The application key")]
    application_secret: Annotated[SecretKey, Field(description="The application secret")]
    consumer_key: Annotated[SecretKey, Field(description="The consumer key")]
    ovh_endpoint: Annotated[
        Literal["ovh-eu", "ovh-ca", "kimsufi-eu", "kimsufi-ca", "soyoustart-eu", "soyoustart-ca"],
        Field(description="The OVH API endpoint"),
    ] = "ovh-eu"


class OvhProvider(Provider[OvhDnsServer]):
    type_name = "Ovh"
    settings_model = OvhDnsServer
    capabilities = Capabilities(max_changes_per_batch=50, can_list_names=False)

    def __init__(self, settings: OvhDnsServer, context: ProviderContext, **http: Any) -> None:
        super().__init__(settings, context)
        self.http = HttpClient(
            **{
                "base_url": api_url("Ovh", ENDPOINTS[settings.ovh_endpoint]),
                "provider": "Ovh",
                "server_id": context.server_id,
                "counters": context.counters,
                "timeout": settings.timeout.total_seconds(),
                "credential_fields": ("applicationKey", "applicationSecret", "consumerKey"),
                "rate_limit": FAIR_USE,
                "sign": self._sign,
                **http,
            }
        )
        self.ids = RecordIds()
        self.offset: float | None = None
        """Server clock minus ours, from ``/auth/time``."""
        self._zones: list[Zone] | None = None
        self._unpublished: set[str] = set()

    def _sign(self, method: str, url: str, body: str) -> dict[str, str]:
        headers = {"X-Ovh-Application": self.settings.application_key}
        if url == self.http.base_url + "/auth/time":
            return headers
        stamp = str(int(self.http.clock.time() + (self.offset or 0.0)))
        consumer = reveal(self.settings.consumer_key)
        secret = reveal(self.settings.application_secret)
        text = "+".join([secret, consumer, method, url, body, stamp])
        signature = "$1$" + hashlib.sha1(text.encode()).hexdigest()
        return headers | {"X-Ovh-Consumer": consumer, "X-Ovh-Timestamp": stamp,
                          "X-Ovh-Signature": signature}  # fmt: skip

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A signed call; a query out of time re-reads the server's clock and goes again once."""
        for attempt in (1, 2):
            if self.offset is None:
                server_time = await self.http.get("/auth/time")
                if not isinstance(server_time, int | float) or isinstance(server_time, bool):
                    what = f"/auth/time answered {str(server_time)[:40]!r}, not a time"
                    raise TransientError(what, provider="Ovh")
                self.offset = float(server_time) - self.http.clock.time()
            try:
                return (await self.http.request(method, path, **kwargs)).body
            except ProviderError as exc:
                code = _error_code(exc)
                if code == "QUERY_TIME_OUT" and attempt == 1:
                    self.offset = None
                    continue
                if code == "INVALID_SIGNATURE":
                    raise AuthenticationError(
                        f"{exc.message}; check 'applicationSecret' and 'consumerKey' of "
                        f"DnsServer {self.context.server_id!r}",
                        provider="Ovh",
                    ) from exc
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def find_zone(self, name: dns.name.Name) -> Zone:
        if self._zones is not None:
            with contextlib.suppress(ZoneNotFoundError):
                return zone_for(name, self._zones, "Ovh")
        names = await self._call("GET", "/domain/zone")
        self._zones = [Zone(forms.owner_from_fqdn(z), z.rstrip(".").lower()) for z in names]
        return zone_for(name, self._zones, "Ovh")

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        if zone.id in self._unpublished:
            await self._refresh(zone)
        path = f"/domain/zone/{zone.id}/record"
        ids = await self._call("GET", path, errors={404: ZoneNotFoundError})
        slots = asyncio.Semaphore(_FETCHES)

        async def fetch(record_id: int) -> Any:
            async with slots:
                try:
                    return await self._call("GET", f"{path}/{record_id}")
                except ProviderError as exc:
                    if _status(exc) == 404:
                        return None  # deleted since the ids were listed
                    raise

        fetched = await asyncio.gather(*(fetch(i) for i in ids), return_exceptions=True)
        records: list[dict[str, Any]] = []
        for answer in fetched:
            if isinstance(answer, BaseException):
                raise answer
            if isinstance(answer, dict):
                records.append(answer)
        parsed = [p for p in (_parse(r, zone.name) for r in records) if p]
        self.ids.learn((n, t, r, i) for n, t, r, i, _ in parsed)
        rrsets: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
        for name, rdtype, rdata, _, ttl in parsed:
            if names is None or name in names:
                key = (name, rdtype)
                rrsets.setdefault(key, dns.rrset.RRset(name, rdata.rdclass, rdtype)).add(rdata, ttl)
        return list(rrsets.values())

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        path = f"/domain/zone/{zone.id}/record"

        async def delete(call: RecordDelete) -> None:
            self._unpublished.add(zone.id)
            await self._call("DELETE", f"{path}/{call.id}")

        async def update(call: RecordUpdate) -> str:
            self._unpublished.add(zone.id)
            body = {"target": _target(call.rdtype, call.rdata), "ttl": call.ttl}
            await self._call("PUT", f"{path}/{call.id}", json=body)
            return call.id

        async def create(call: NewRecord) -> str:
            self._unpublished.add(zone.id)
            sub = forms.owner_relative(call.name, zone.name, apex="")
            body = {"fieldType": dns.rdatatype.to_text(call.rdtype), "subDomain": sub,
                    "target": _target(call.rdtype, call.rdata), "ttl": call.ttl}  # fmt: skip
            return str((await self._call("POST", path, json=body))["id"])

        try:
            await apply_record_by_record(
                changes, self.ids, delete=delete, update=update, create=create
            )
        except ProviderError:
            if zone.id in self._unpublished:
                with contextlib.suppress(ProviderError):
                    await self._refresh(zone)  # publish what went through
            raise
        if zone.id in self._unpublished:
            await self._refresh(zone)

    async def _refresh(self, zone: Zone) -> None:
        """Publish the zone's record changes (OVH serves them only after a refresh)."""
        try:
            await self._call("POST", f"/domain/zone/{zone.id}/refresh")
        except ProviderError as exc:
            raise TransientError(
                f"records written but the zone not refreshed: {exc.message}", provider="Ovh"
            ) from exc
        self._unpublished.discard(zone.id)

    async def aclose(self) -> None:
        await self.http.aclose()


def _target(rdtype: dns.rdatatype.RdataType, rdata: dns.rdata.Rdata) -> str:
    """OVH's ``target``: zone-file text, absolute names with their dot, MX and SRV priority
    inside it, TXT quoted as OVH itself now stores it."""
    return forms.txt_quoted(rdata) if rdtype == dns.rdatatype.TXT else rdata.to_text()


_Parsed = tuple[dns.name.Name, dns.rdatatype.RdataType, dns.rdata.Rdata, str, int]


def _parse(record: dict[str, Any], zone: dns.name.Name) -> _Parsed | None:
    """An OVH record as (name, type, rdata, id, ttl); ``None`` for a value that does not parse.
    A name in a target without a final dot is relative to the zone, as in OVH's zone file."""
    field_type, target = str(record.get("fieldType", "")), str(record.get("target", ""))
    try:
        if field_type in _TXT_LIKE:
            rdtype = dns.rdatatype.TXT
            quoted = target.startswith('"')
            rdata = forms.txt_from_quoted(target) if quoted else forms.txt_from_joined(target)
        else:
            rdtype = dns.rdatatype.from_text(field_type)
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, rdtype, target, origin=zone, relativize=False
            )
    except (dns.exception.DNSException, ValueError, UnicodeError):
        return None
    name = forms.owner_from_relative(str(record.get("subDomain") or ""), zone)
    return name, rdtype, rdata, str(record["id"]), int(record.get("ttl") or ZONE_DEFAULT_TTL)


def _status(exc: ProviderError) -> int | None:
    cause = exc.__cause__
    return cause.response.status if isinstance(cause, HttpStatusError) else None


def _error_code(exc: ProviderError) -> str:
    """OVH's ``errorCode`` from ``{errorCode, httpCode, message}``."""
    cause = exc.__cause__
    body = cause.response.body if isinstance(cause, HttpStatusError) else None
    return str(body.get("errorCode") or "") if isinstance(body, dict) else ""
