"""The ``Spaceship`` DnsServer: Spaceship's DNS API v1, whole batches in one upsert, through
the toolkit.

Zones are the account's domains (``GET /domains``, 100 a page, cached, listed again on a miss);
records are read a zone at a time (``GET /dns/records/{domain}``, 500 a page), only those of
the ``custom`` group (``product`` and ``personalNS`` records are Spaceship's own). A batch of
changes is one ``PUT /dns/records/{domain}`` with every value to add or re-time (Spaceship
matches type + name + data and then only updates the TTL) and at most one ``DELETE`` with the
values to remove (a JSON array body; a 404 means none was there any more). Records carry no id.
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
    Create,
    Delete,
    DnsServerBase,
    Provider,
    ProviderContext,
    ProviderError,
    SecretKey,
    UnsupportedError,
    Zone,
    ZoneNotFoundError,
    comparable_value,
    reveal,
)
from dnsauto.plugin import rdata_forms as forms
from dnsauto.plugin.batches import ApplyProgress, chunks
from dnsauto.plugin.http import HttpClient, HttpStatusError, RateLimit, api_url
from dnsauto.plugin.zones import Page, all_pages, zone_for

__all__ = ["API_URL", "MAX_TTL", "MIN_TTL", "SpaceshipDnsServer", "SpaceshipProvider"]

API_URL = "https://spaceship.dev/api/v1"
MIN_TTL, MAX_TTL = 60, 3600  # the SDK's ValidateTTL
_WRITE_BATCH = 500  # items per PUT or DELETE (the SDK's maxWriteBatchSize)
_Item = dict[str, Any]


class SpaceshipDnsServer(DnsServerBase):
    """Spaceship DNS server."""

    type: Literal["Spaceship"] = Field(alias="@type")
    api_key: Annotated[str, Field(description="The API key used to authenticate with Spaceship")]
    secret: Annotated[
        SecretKey, Field(description="The secret or token used to authenticate with the DNS server")
    ]


class SpaceshipProvider(Provider[SpaceshipDnsServer]):
    type_name = "Spaceship"
    settings_model = SpaceshipDnsServer
    capabilities = Capabilities(max_changes_per_batch=100, can_list_names=False)

    def __init__(self, settings: SpaceshipDnsServer, context: ProviderContext, **http: Any) -> None:
        super().__init__(settings, context)
        self.http = HttpClient(
            **{
                "base_url": api_url("Spaceship", API_URL),
                "provider": "Spaceship",
                "server_id": context.server_id,
                "counters": context.counters,
                "timeout": settings.timeout.total_seconds(),
                "auth": lambda: {"X-API-Key": settings.api_key,
                                 "X-API-Secret": reveal(settings.secret)},
                "credential_fields": ("apiKey", "secret"),
                "rate_limit": RateLimit(300, 300),  # DNS record and domain list endpoints
                "error_detail": _error_detail,
                **http,
            }
        )  # fmt: skip
        self._zones: list[Zone] | None = None

    async def find_zone(self, name: dns.name.Name) -> Zone:
        if self._zones is not None:
            try:
                return zone_for(name, self._zones, "Spaceship")
            except ZoneNotFoundError:
                pass  # a domain added since: list again
        found = await self._pages("/domains", 100, "name")
        self._zones = [Zone(forms.owner_from_fqdn(d["name"]), d["name"], min_ttl=MIN_TTL)
                       for d in found]  # fmt: skip
        return zone_for(name, self._zones, "Spaceship")

    async def _pages(self, path: str, take: int, order: str) -> list[_Item]:
        async def page(number: int) -> Page[_Item]:
            skip = (number - 1) * take
            params = {"take": take, "skip": skip, "orderBy": order}
            body = await self.http.get(path, params=params, errors={404: ZoneNotFoundError})
            items = list(body.get("items") or [])
            return Page(items, skip + len(items) < int(body.get("total") or 0))

        return await all_pages(page)

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        rrsets: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
        for item in await self._pages(f"/dns/records/{zone.id}", 500, "type"):
            parsed = _parse(item, zone.name)
            if parsed is not None and (names is None or parsed[0] in names):
                name, rdtype, rdata, ttl = parsed
                rrset = rrsets.setdefault(
                    (name, rdtype), dns.rrset.RRset(name, rdata.rdclass, rdtype)
                )
                rrset.add(rdata, ttl)
        return list(rrsets.values())

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        puts: list[tuple[int, _Item]] = []
        deletes: list[tuple[int, _Item]] = []
        for index, change in enumerate(changes):
            old = None if isinstance(change, Create) else change.old
            new = None if isinstance(change, Delete) else change.new
            old_values = {comparable_value(r) for r in old} if old is not None else set()
            if new is not None:
                _check_ttl(new, zone, self.context.server_id)
                retimed = old is not None and old.ttl != new.ttl
                puts += [(index, _item(new.name, new.rdtype, r, zone.name, new.ttl)) for r in new
                         if retimed or comparable_value(r) not in old_values]  # fmt: skip
            if old is not None:
                new_values = {comparable_value(r) for r in new} if new is not None else set()
                deletes += [(index, _item(old.name, old.rdtype, r, zone.name, None)) for r in old
                            if comparable_value(r) not in new_values]  # fmt: skip
        progress = ApplyProgress(changes, [*puts, *deletes])
        path = f"/dns/records/{zone.id}"
        for kind, calls in (("PUT", puts), ("DELETE", deletes)):
            for chunk in chunks(calls, _WRITE_BATCH):
                items = [item for _, item in chunk]
                try:
                    if kind == "PUT":
                        await self.http.request("PUT", path, json={"force": True, "items": items})
                    else:
                        await self._delete(path, items)
                except ProviderError as exc:
                    raise progress.error(exc) from exc
                for index, _ in chunk:
                    progress.done(index)

    async def _delete(self, path: str, items: list[_Item]) -> None:
        try:
            await self.http.request("DELETE", path, json=items)
        except ProviderError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, HttpStatusError) and cause.response.status == 404):
                raise  # 404: none of them is there any more (a retried DELETE that was done)

    async def aclose(self) -> None:
        await self.http.aclose()


def _check_ttl(rrset: dns.rrset.RRset, zone: Zone, server_id: str) -> None:
    if not MIN_TTL <= rrset.ttl <= MAX_TTL:
        raise UnsupportedError(
            f"TTL {rrset.ttl}s is outside Spaceship's {MIN_TTL}-{MAX_TTL}s; check 'ttl' of "
            f"DnsServer {server_id!r}",
            provider="Spaceship",
            zone=str(zone),
            name=str(rrset.name),
            rdtype=dns.rdatatype.to_text(rrset.rdtype),
        )


def _host(name: dns.name.Name) -> str:
    return forms.host_text(name, trailing_dot=False)


def _item(
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    rdata: dns.rdata.Rdata,
    zone: dns.name.Name,
    ttl: int | None,
) -> _Item:
    text = dns.rdatatype.to_text(rdtype)
    item: _Item = {"type": text, "name": forms.owner_relative(name, zone)}
    if text in ("SRV", "TLSA"):  # _service._protocol[.host]: the labels go in their own fields
        service, protocol, *rest = name.relativize(zone).labels
        item["name"] = b".".join(rest).decode() or "@"
        key = "service" if text == "SRV" else "port"  # a TLSA port is "_25", as Spaceship wants
        item |= {key: service.decode(), "protocol": protocol.decode()}
    if ttl is not None:
        item["ttl"] = ttl
    if text == "MX":
        preference, exchange = forms.mx_fields(rdata)
        item |= {"exchange": _host(exchange), "preference": preference}
    elif text == "SRV":
        srv = forms.srv_fields(rdata)
        item |= {"priority": srv.priority, "weight": srv.weight, "port": srv.port,
                 "target": _host(srv.target)}  # fmt: skip
    elif text == "CAA":
        caa = forms.caa_fields(rdata)
        item |= {"flag": caa.flags, "tag": caa.tag, "value": caa.value}
    elif text == "TLSA":
        usage, selector, matching, data = rdata.to_text().split(maxsplit=3)
        item |= {"usage": int(usage), "selector": int(selector), "matching": int(matching),
                 "associationData": data.replace(" ", "")}  # fmt: skip
    elif text == "TXT":
        item["value"] = forms.txt_joined(rdata)
    elif text == "CNAME":
        item["cname"] = _host(getattr(rdata, "target"))  # noqa: B009
    elif text == "NS":
        item["nameserver"] = _host(getattr(rdata, "target"))  # noqa: B009
    elif text in ("A", "AAAA"):
        item["address"] = rdata.to_text()
    else:
        raise UnsupportedError(f"Spaceship records of type {text} are not supported")
    return item


def _parse(
    item: _Item, zone: dns.name.Name
) -> tuple[dns.name.Name, dns.rdatatype.RdataType, dns.rdata.Rdata, int] | None:
    """A custom record as (name, type, rdata, ttl); ``None`` for Spaceship's own records and
    what dnsauto cannot read."""
    if (item.get("group") or {}).get("type", "custom") != "custom":
        return None
    text, host = str(item.get("type")), str(item.get("name") or "@")
    try:
        rdtype = dns.rdatatype.from_text(text)
        if text in ("SRV", "TLSA"):
            first = item["service"] if text == "SRV" else f"_{str(item['port']).lstrip('_')}"
            host = f"{first}.{item['protocol']}" + ("" if host == "@" else f".{host}")
        if text == "MX":
            rdata = forms.mx_rdata(int(item["preference"]), item["exchange"])
        elif text == "SRV":
            rdata = forms.srv_rdata(int(item["priority"]), int(item["weight"]),
                                    int(item["port"]), item["target"])  # fmt: skip
        elif text == "CAA":
            rdata = forms.caa_rdata(int(item["flag"]), item["tag"], item["value"])
        elif text == "TLSA":
            fields = (item["usage"], item["selector"], item["matching"], item["associationData"])
            rdata = forms.rdata_from_text(rdtype, " ".join(str(f) for f in fields))
        elif text == "TXT":
            rdata = forms.txt_from_joined(item["value"])
        elif text in ("CNAME", "NS"):
            target = item["cname" if text == "CNAME" else "nameserver"]
            rdata = forms.rdata_from_text(rdtype, forms.target_name(target).to_text())
        else:
            rdata = forms.rdata_from_text(rdtype, str(item["address"]))
    except (ValueError, KeyError, TypeError, dns.rdatatype.UnknownRdatatype):
        return None
    return forms.owner_from_relative(host, zone), rdtype, rdata, int(item.get("ttl") or 3600)


def _error_detail(body: Any) -> str:
    """Spaceship's ``{detail, data: [{field, details}]}``, as ``field: details; ...``."""
    if not isinstance(body, dict):
        return ""
    fields = [f"{d.get('field')}: {d.get('details')}" for d in body.get("data") or []
              if isinstance(d, dict)]  # fmt: skip
    detail = str(body.get("detail") or "").strip()
    return "; ".join(([detail] if detail and detail != "^$" else []) + fields)
