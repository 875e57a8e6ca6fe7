"""A fake Bunny DNS API, built on ``../shared/provider-api/bunny.md`` (no recordings exist).

What it rests on, from the official docs and the clients read there (dnscontrol, bunny-go,
libdns, lego): ``AccessKey`` header authentication; ``GET /dnszone`` paged as ``{Items,
CurrentPage, TotalItems, HasMoreItems}`` (``page`` with ``perPage`` or ``per_page``, and
``search``); ``GET /dnszone/{id}`` answering the zone with all its ``Records`` (apex NS not
among them); records in PascalCase with an integer ``Type`` and a ``Name`` relative to the zone
(``""`` at the apex); add ``PUT /dnszone/{id}/records`` 201 with the record, update ``POST
/dnszone/{id}/records/{recordId}`` 204, delete ``DELETE`` 204; errors as ``{ErrorKey, Field,
Message}``. Guessed, as no source shows them: the error keys and messages, the 401 and 404
bodies, and the default and largest page size (1,000, bunny-go's default).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from dnsauto.testing.fake_http import FakeApi, Handler

__all__ = ["KEY", "TYPES", "FakeBunny"]

KEY = "fake-bunny-access-key"
TYPES = {"A": 0, "AAAA": 1, "CNAME": 2, "TXT": 3, "MX": 4, "Redirect": 5, "Flatten": 6,
         "PullZone": 7, "SRV": 8, "CAA": 9, "PTR": 10, "Script": 11, "NS": 12, "SVCB": 13,
         "HTTPS": 14, "TLSA": 15}  # fmt: skip
"""Bunny's record ``Type`` codes (dnscontrol ``convert.go``, bunny-go constants)."""
_STAMP = "2026-01-01T00:00:00"
_PAGE_SIZE = 1000


class _Refused(Exception):
    def __init__(self, status: int, key: str, field_name: str, message: str) -> None:
        self.status, self.key, self.field, self.message = status, key, field_name, message


@dataclass
class _Zone:
    id: int
    domain: str
    records: dict[int, dict[str, Any]] = field(default_factory=dict)


class FakeBunny(FakeApi):
    """DNS zones and records in memory; ``base_url`` is the API root."""

    def __init__(self, key: str = KEY) -> None:
        self.key = key
        self.zones: dict[int, _Zone] = {}
        self._zone_ids = itertools.count(1001)
        self._ids = itertools.count(1)
        super().__init__()
        self.app.middlewares.append(self._gate)

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/dnszone", self._list_zones)
        router.add_get("/dnszone/{zone}", self._get_zone)
        router.add_put("/dnszone/{zone}/records", self._add)
        router.add_post("/dnszone/{zone}/records/{id}", self._update)
        router.add_delete("/dnszone/{zone}/records/{id}", self._delete)

    # --- state ------------------------------------------------------------------------------

    def add_zone(self, domain: str) -> int:
        zone = _Zone(next(self._zone_ids), domain.rstrip(".").lower())
        self.zones[zone.id] = zone
        return zone.id

    def add_record(self, zone_id: int, fields: dict[str, Any]) -> int:
        record = _record(fields, next(self._ids))
        self.zones[zone_id].records[record["Id"]] = record
        return int(record["Id"])

    def records(self, zone_id: int) -> list[dict[str, Any]]:
        return list(self.zones[zone_id].records.values())

    # --- gate and helpers -------------------------------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.headers.get("AccessKey") != self.key:
                raise _Refused(401, "unauthorized", "AccessKey", "Authorization has been denied.")
            return await handler(request)
        except _Refused as exc:
            body = {"ErrorKey": exc.key, "Field": exc.field, "Message": exc.message}
            return web.json_response(body, status=exc.status)

    def _zone(self, request: web.Request) -> _Zone:
        raw = request.match_info["zone"]
        zone = self.zones.get(int(raw)) if raw.isdigit() else None
        if zone is None:
            raise _Refused(404, "dnszone.not_found", "Id", "The requested DNS zone was not found")
        return zone

    def _record_of(self, zone: _Zone, request: web.Request) -> dict[str, Any]:
        raw = request.match_info["id"]
        record = zone.records.get(int(raw)) if raw.isdigit() else None
        if record is None:
            raise _Refused(404, "dnsrecord.not_found", "Id", "The DNS record was not found")
        return record

    # --- handlers ---------------------------------------------------------------------------

    async def _list_zones(self, request: web.Request) -> web.Response:
        q = request.query
        page = max(1, int(q.get("page", "1")))
        size = min(_PAGE_SIZE, max(1, int(q.get("perPage", q.get("per_page", _PAGE_SIZE)))))
        found = [z for _, z in sorted(self.zones.items()) if q.get("search", "") in z.domain]
        items = [_zone_json(z) for z in found[(page - 1) * size : page * size]]
        return web.json_response({"Items": items, "CurrentPage": page,
                                  "TotalItems": len(found),
                                  "HasMoreItems": page * size < len(found)})  # fmt: skip

    async def _get_zone(self, request: web.Request) -> web.Response:
        return web.json_response(_zone_json(self._zone(request)))

    async def _add(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        record = _record(await request.json(), next(self._ids))
        zone.records[record["Id"]] = record
        return web.json_response(record, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        old = self._record_of(zone, request)
        body = await request.json()
        changes = {k: v for k, v in body.items() if k != "Id"}
        zone.records[old["Id"]] = _record({**old, **changes}, old["Id"])
        return web.Response(status=204)

    async def _delete(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        del zone.records[self._record_of(zone, request)["Id"]]
        return web.Response(status=204)


def _record(fields: dict[str, Any], record_id: int) -> dict[str, Any]:
    rdtype, value, name = fields.get("Type"), fields.get("Value"), fields.get("Name")
    if not isinstance(rdtype, int) or isinstance(rdtype, bool) or rdtype not in TYPES.values():
        raise _Refused(400, "validation_error", "Type", "The record type is invalid.")
    if not isinstance(value, str) or not value:
        raise _Refused(400, "validation_error", "Value", "The record value is required.")
    if not isinstance(name, str):
        raise _Refused(400, "validation_error", "Name", "The record name is required.")
    ttl = fields.get("Ttl", 300)
    if not isinstance(ttl, int):
        raise _Refused(400, "validation_error", "Ttl", "The TTL is invalid.")
    number = {k: int(fields.get(k) or 0) for k in ("Weight", "Priority", "Port", "Flags")}
    return {"Id": record_id, "Type": rdtype, "Ttl": ttl, "Value": value, "Name": name.lower(),
            **number, "Tag": str(fields.get("Tag") or ""), "Accelerated": False,
            "AcceleratedPullZoneId": 0, "LinkName": "", "IPGeoLocationInfo": None,
            "MonitorStatus": 0, "MonitorType": 0, "GeolocationLatitude": 0.0,
            "GeolocationLongitude": 0.0, "EnviromentalVariables": [], "LatencyZone": None,
            "SmartRoutingType": 0, "Disabled": False, "Comment": fields.get("Comment"),
            "AutoSslIssuance": True}  # fmt: skip


def _zone_json(zone: _Zone) -> dict[str, Any]:
    return {"Id": zone.id, "Domain": zone.domain, "Records": list(zone.records.values()),
            "DateModified": _STAMP, "DateCreated": _STAMP, "NameserversDetected": True,
            "CustomNameserversEnabled": False, "Nameserver1": "kiki.bunny.net",
            "Nameserver2": "coco.bunny.net", "SoaEmail": "hostmaster@bunny.net",
            "NameserversNextCheck": _STAMP, "LoggingEnabled": False,
            "LoggingIPAnonymizationEnabled": True, "LogAnonymizationType": 0,
            "DnsSecEnabled": False, "CertificateKeyType": 0}  # fmt: skip
