"""A fake Cloudflare API v4 that answers like the real one (checked against lexicon's cassettes).

Envelopes ``{result, success, errors, messages}`` (+ ``result_info`` on lists), 200 on create,
pages past the end answered with an empty ``result``, an identical record refused with 400
code 81058, batches applied in one transaction (deletes, patches, puts, posts), token or
email + global key authentication (403 code 10000 otherwise: not in any recording; the code
is the one Cloudflare documents for authentication errors).
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from dnsauto.testing.fake_http import FakeApi

__all__ = ["TOKEN", "FakeCloudflare"]

TOKEN = "fake-cloudflare-token"
_STAMP = "2025-08-27T20:36:19.571325Z"
_BATCH_LIMIT = 200


class _Refused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        self.status, self.code, self.message = status, code, message


@dataclass
class _Zone:
    id: str
    name: str
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


def _envelope(result: Any, **extra: Any) -> dict[str, Any]:
    return {"result": result, "success": True, "errors": [], "messages": [], **extra}


def _error(status: int, code: int, message: str) -> web.Response:
    body = {"result": None, "success": False, "errors": [{"code": code, "message": message}],
            "messages": []}  # fmt: skip
    return web.json_response(body, status=status)


class FakeCloudflare(FakeApi):
    """Zones and records in memory under ``/client/v4``; ``base_url`` points there."""

    def __init__(self, token: str = TOKEN, email: str | None = None, key: str | None = None):
        self.token, self.email, self.key = token, email, key
        self.zones: dict[str, _Zone] = {}
        self._ids = itertools.count(1)
        super().__init__()

    async def start(self) -> str:
        root = await super().start()
        self.base_url = root + "/client/v4"
        return self.base_url

    def routes(self, router: web.UrlDispatcher) -> None:
        p = "/client/v4/zones"
        router.add_get(p, self._list_zones)
        router.add_get(p + "/{zone}", self._get_zone)
        router.add_get(p + "/{zone}/dns_records", self._list_records)
        router.add_post(p + "/{zone}/dns_records", self._create)
        router.add_post(p + "/{zone}/dns_records/batch", self._batch)
        for method in ("PUT", "PATCH", "DELETE"):
            router.add_route(method, p + "/{zone}/dns_records/{id}", self._one)

    # --- state ------------------------------------------------------------------------------

    def add_zone(self, name: str, zone_id: str | None = None) -> str:
        zone_id = zone_id or secrets.token_hex(16)
        self.zones[zone_id] = _Zone(zone_id, name.rstrip("."))
        return zone_id

    def add_record(self, zone_id: str, fields: dict[str, Any], record_id: str | None = None) -> str:
        record = self._record(self.zones[zone_id], fields, record_id)
        self.zones[zone_id].records[record["id"]] = record
        return str(record["id"])

    def records(self, zone_id: str) -> list[dict[str, Any]]:
        return list(self.zones[zone_id].records.values())

    # --- handlers ---------------------------------------------------------------------------

    def _authenticated(self, request: web.Request) -> bool:
        if request.headers.get("Authorization") == f"Bearer {self.token}":
            return True
        return self.email is not None and (
            request.headers.get("X-Auth-Email") == self.email
            and request.headers.get("X-Auth-Key") == self.key
        )

    def _zone(self, request: web.Request) -> _Zone:
        if not self._authenticated(request):
            raise _Refused(403, 10000, "Authentication error")
        zone = self.zones.get(request.match_info.get("zone", ""))
        if "zone" in request.match_info and zone is None:
            raise _Refused(404, 7003, "Could not route to /zones, perhaps your object identifier "
                           "is invalid?")  # fmt: skip
        return zone or _Zone("", "")

    @staticmethod
    def _paged(request: web.Request, items: list[Any], default: int, most: int) -> web.Response:
        page = max(1, int(request.query.get("page", "1")))
        per_page = min(most, max(5, int(request.query.get("per_page", str(default)))))
        chunk = items[(page - 1) * per_page : page * per_page]
        pages = max(1, -(-len(items) // per_page))
        info = {"page": page, "per_page": per_page, "count": len(chunk),
                "total_count": len(items), "total_pages": pages}  # fmt: skip
        return web.json_response(_envelope(chunk, result_info=info))

    async def _list_zones(self, request: web.Request) -> web.Response:
        try:
            self._zone(request)
        except _Refused as exc:
            return _error(exc.status, exc.code, exc.message)
        name = request.query.get("name")
        zones = [_zone_json(z) for z in self.zones.values() if name in (None, z.name)]
        return self._paged(request, zones, 20, 1000)

    async def _get_zone(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(_envelope(_zone_json(self._zone(request))))
        except _Refused as exc:
            return _error(exc.status, exc.code, exc.message)

    async def _list_records(self, request: web.Request) -> web.Response:
        try:
            zone = self._zone(request)
        except _Refused as exc:
            return _error(exc.status, exc.code, exc.message)
        q = request.query
        name, rdtype = q.get("name.exact", q.get("name")), q.get("type")
        found = [r for r in zone.records.values()
                 if name in (None, r["name"]) and rdtype in (None, r["type"])]  # fmt: skip
        return self._paged(request, found, 100, 5000)

    async def _create(self, request: web.Request) -> web.Response:
        try:
            zone = self._zone(request)
            record = self._post(zone, await request.json())
        except _Refused as exc:
            return _error(exc.status, exc.code, exc.message)
        return web.json_response(_envelope(record))

    async def _one(self, request: web.Request) -> web.Response:
        try:
            zone = self._zone(request)
            record_id = request.match_info["id"]
            if request.method == "DELETE":
                self._delete(zone, record_id)
                return web.json_response(_envelope({"id": record_id}))
            body = await request.json()
            return web.json_response(_envelope(self._put(zone, record_id, body, request.method)))
        except _Refused as exc:
            return _error(exc.status, exc.code, exc.message)

    async def _batch(self, request: web.Request) -> web.Response:
        try:
            zone = self._zone(request)
            body = await request.json()
            if sum(len(body.get(k) or []) for k in ("deletes", "patches", "puts", "posts")) > (
                _BATCH_LIMIT
            ):
                raise _Refused(400, 81163, f"batch exceeds {_BATCH_LIMIT} records")
            saved = {k: dict(v) for k, v in zone.records.items()}
            try:
                result = self._apply_batch(zone, body)
            except _Refused:
                zone.records = saved  # one transaction: all or nothing
                raise
        except _Refused as exc:
            return _error(exc.status, exc.code, exc.message)
        return web.json_response(_envelope(result))

    def _apply_batch(self, zone: _Zone, body: dict[str, Any]) -> dict[str, list[Any]]:
        result: dict[str, list[Any]] = {}
        for item in body.get("deletes") or []:
            result.setdefault("deletes", []).append(self._delete(zone, item["id"]))
        for kind, method in (("patches", "PATCH"), ("puts", "PUT")):
            for item in body.get(kind) or []:
                fields = {k: v for k, v in item.items() if k != "id"}
                result.setdefault(kind, []).append(self._put(zone, item["id"], fields, method))
        for item in body.get("posts") or []:
            result.setdefault("posts", []).append(self._post(zone, item))
        return result

    # --- record rules -----------------------------------------------------------------------

    def _delete(self, zone: _Zone, record_id: str) -> dict[str, Any]:
        if zone.records.pop(record_id, None) is None:
            raise _Refused(404, 81044, "Record does not exist.")
        return {"id": record_id}

    def _post(self, zone: _Zone, fields: dict[str, Any]) -> dict[str, Any]:
        record = self._record(zone, fields, None)
        self._refuse_identical(zone, record)
        zone.records[record["id"]] = record
        return record

    def _put(self, zone: _Zone, record_id: str, fields: dict[str, Any], method: str) -> Any:
        old = zone.records.get(record_id)
        if old is None:
            raise _Refused(404, 81044, "Record does not exist.")
        merged = {**old, **fields} if method == "PATCH" else fields
        record = self._record(zone, merged, record_id)
        record["created_on"] = old["created_on"]
        self._refuse_identical(zone, record)
        zone.records[record_id] = record
        return record

    @staticmethod
    def _refuse_identical(zone: _Zone, record: dict[str, Any]) -> None:
        for other in zone.records.values():
            same = all(other.get(k) == record.get(k) for k in ("type", "name", "content"))
            if same and other["id"] != record["id"]:
                raise _Refused(400, 81058, "An identical record already exists.")

    def _record(self, zone: _Zone, fields: dict[str, Any], record_id: str | None) -> dict[str, Any]:
        rdtype, name = fields.get("type"), str(fields.get("name") or "").rstrip(".")
        if name == "@":
            name = zone.name
        if not rdtype or not name:
            raise _Refused(400, 9000, "DNS record type and name are required")
        if name != zone.name and not name.endswith("." + zone.name):
            raise _Refused(400, 9005, "Content for the record name is outside the zone.")
        data = fields.get("data")
        content = _content(rdtype, fields, data)
        if not content:
            raise _Refused(400, 9007, f"Content for {rdtype} record is invalid.")
        record: dict[str, Any] = {
            "id": record_id or f"{next(self._ids):032x}", "name": name, "type": rdtype,
            "content": content, "proxiable": rdtype in ("A", "AAAA", "CNAME"),
            "proxied": bool(fields.get("proxied", False)), "ttl": int(fields.get("ttl") or 1),
            "settings": {}, "meta": {}, "comment": fields.get("comment"),
            "tags": list(fields.get("tags") or []), "created_on": _STAMP, "modified_on": _STAMP,
        }  # fmt: skip
        if rdtype == "CNAME":
            record["settings"] = {"flatten_cname": False}
        if rdtype in ("MX", "SRV", "URI"):
            record["priority"] = int((data or fields).get("priority") or 0)
        if data:
            record["data"] = data
        return record


def _content(rdtype: str, fields: dict[str, Any], data: dict[str, Any] | None) -> str:
    if not data:
        return str(fields.get("content") or "")
    if rdtype == "SRV":
        return f"{data['weight']} {data['port']} {data['target']}"
    if rdtype == "CAA":
        return f'{data["flags"]} {data["tag"]} "{data["value"]}"'
    if rdtype == "TLSA":
        return f"{data['usage']} {data['selector']} {data['matching_type']} {data['certificate']}"
    return " ".join(str(v) for v in data.values())


def _zone_json(zone: _Zone) -> dict[str, Any]:
    """A zone in the shape of the 2025 recording (account, plan and meta as recorded)."""
    return {
        "id": zone.id, "name": zone.name, "status": "active", "paused": False, "type": "full",
        "development_mode": 0,
        "name_servers": ["blakely.ns.cloudflare.com", "vin.ns.cloudflare.com"],
        "original_name_servers": None, "original_registrar": None, "original_dnshost": None,
        "modified_on": _STAMP, "created_on": _STAMP, "activated_on": _STAMP,
        "vanity_name_servers": [], "vanity_name_servers_ips": None,
        "meta": {"step": 4, "custom_certificate_quota": 0, "page_rule_quota": 3,
                 "phishing_detected": False},
        "owner": {"id": None, "type": "user", "email": None},
        "account": {"id": "8d76151cc3a22bf025f36489c7a0be23", "name": "Fake Account"},
        "tenant": {"id": None, "name": None}, "tenant_unit": {"id": None},
        "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
        "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website", "price": 0,
                 "currency": "USD", "frequency": "", "is_subscribed": False,
                 "can_subscribe": False, "legacy_id": "free", "legacy_discount": False,
                 "externally_managed": False},
    }  # fmt: skip
