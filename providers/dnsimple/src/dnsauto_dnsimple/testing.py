"""A fake DNSimple API v2 that answers like the real one (checked against lexicon's cassettes).

Envelopes ``{data}`` (+ ``pagination`` on lists: ``page``, ``per_page`` 30 by default, 100 at
most), records sorted by id, create 201, update 200, delete 204 with no body, the system SOA and
NS records at the apex, ``X-RateLimit-*`` headers on every answer, and the documented errors:
401 ``{"message": "Authentication failed"}``, 404 ``Zone `x` not found`` / ``Record `x` not
found``, 400 ``Validation failed`` with an ``errors`` map, and past ``quota`` requests 429
``{"message": "quota exceeded"}`` without ``Retry-After`` (clients wait for
``X-RateLimit-Reset``). Not in any recording: the answer for an account the token does not
reach (here 404 ``Account `x` not found``) and the refusal of TLSA (``record_type``
``unsupported``, the shape DNSimple documents for its batch endpoint).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from dnsauto.testing.fake_http import FakeApi, Fault, Handler

__all__ = ["ACCOUNT", "QUOTA_RESET", "TOKEN", "FakeDnsimple", "quota_exceeded"]

TOKEN = "fake-dnsimple-token"
ACCOUNT = "731"
QUOTA_RESET = 1_780_003_600
"""The Unix time the fake's ``X-RateLimit-Reset`` names."""
_STAMP = "2018-07-09T05:29:54Z"
_TYPES = frozenset(
    ["A", "AAAA", "ALIAS", "CAA", "CNAME", "HINFO", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV",
     "SSHFP", "TXT", "URL"]
)  # fmt: skip
_WRITABLE = ("name", "content", "ttl", "priority", "regions")  # a record's type cannot change
_HOSTS = frozenset({"CNAME", "MX", "ALIAS", "NS", "PTR"})


class _Refused(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None):
        self.status, self.message, self.errors = status, message, errors


@dataclass
class _Zone:
    id: int
    name: str
    records: dict[int, dict[str, Any]] = field(default_factory=dict)


class FakeDnsimple(FakeApi):
    """Zones and records in memory under ``/v2``; ``base_url`` points there."""

    def __init__(self, token: str = TOKEN, account: str = ACCOUNT, quota: int = 2400) -> None:
        self.token, self.account, self.quota = token, account, quota
        self.zones: dict[str, _Zone] = {}
        self.used = 0
        self._ids = itertools.count(1)
        super().__init__()
        self.app.middlewares.append(self._gate)

    async def start(self) -> str:
        root = await super().start()
        self.base_url = root + "/v2"
        return self.base_url

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v2/accounts", self._accounts)
        router.add_get("/v2/whoami", self._whoami)
        a = "/v2/{account}"
        router.add_get(a + "/domains", self._domains)
        router.add_get(a + "/zones", self._list_zones)
        router.add_get(a + "/zones/{zone}", self._get_zone)
        router.add_get(a + "/zones/{zone}/records", self._list_records)
        router.add_post(a + "/zones/{zone}/records", self._create)
        for method in ("GET", "PATCH", "DELETE"):
            router.add_route(method, a + "/zones/{zone}/records/{id}", self._one)

    # --- state ------------------------------------------------------------------------------

    def add_zone(self, name: str, zone_id: int | None = None) -> str:
        name = name.rstrip(".").lower()
        zone = self.zones[name] = _Zone(zone_id or 57894 + len(self.zones), name)
        soa = "ns1.dnsimple.com admin.dnsimple.com 1531114244 86400 7200 604800 300"
        system = [("SOA", soa)] + [("NS", f"ns{i}.dnsimple.com") for i in range(1, 5)]
        for rdtype, content in system:
            self.add_record(name, {"type": rdtype, "name": "", "content": content}, system=True)
        return zone.name

    def add_record(
        self, zone: str, fields: dict[str, Any], record_id: int | None = None, system: bool = False
    ) -> int:
        record = self._record(self.zones[zone], fields, record_id or next(self._ids))
        record["system_record"] = system
        self.zones[zone].records[record["id"]] = record
        return int(record["id"])

    def records(self, zone: str, *, system: bool = False) -> list[dict[str, Any]]:
        return [r for r in self.zones[zone].records.values() if system or not r["system_record"]]

    # --- gate: quota, authentication, account -----------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._json({"message": "Authentication failed"}, 401)
        self.used += 1
        if self.used > self.quota:
            return self._json({"message": "quota exceeded"}, 429)
        account = request.match_info.get("account")
        if account is not None and account != self.account:
            return self._json({"message": f"Account `{account}` not found"}, 404)
        try:
            return await handler(request)
        except _Refused as exc:
            body: dict[str, Any] = {"message": exc.message}
            if exc.errors:
                body["errors"] = exc.errors
            return self._json(body, exc.status)

    def _json(self, body: Any, status: int = 200) -> web.Response:
        headers = {"X-RateLimit-Limit": str(self.quota),
                   "X-RateLimit-Remaining": str(max(0, self.quota - self.used)),
                   "X-RateLimit-Reset": str(QUOTA_RESET)}  # fmt: skip
        if body is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    def _paged(self, request: web.Request, items: list[Any]) -> web.Response:
        page = max(1, int(request.query.get("page", "1")))
        per_page = min(100, max(1, int(request.query.get("per_page", "30"))))
        pages = max(1, -(-len(items) // per_page))
        pagination = {"current_page": page, "per_page": per_page,
                      "total_entries": len(items), "total_pages": pages}  # fmt: skip
        chunk = items[(page - 1) * per_page : page * per_page]
        return self._json({"data": chunk, "pagination": pagination})

    # --- handlers ---------------------------------------------------------------------------

    def _account_json(self) -> dict[str, Any]:
        return {"id": int(self.account), "email": "ops@example.com",
                "plan_identifier": "dnsimple-business", "created_at": _STAMP,
                "updated_at": _STAMP}  # fmt: skip

    async def _accounts(self, request: web.Request) -> web.Response:
        return self._json({"data": [self._account_json()]})

    async def _whoami(self, request: web.Request) -> web.Response:
        return self._json({"data": {"user": None, "account": self._account_json()}})

    async def _domains(self, request: web.Request) -> web.Response:
        like = request.query.get("name_like", "")
        found = [_domain_json(z, self.account) for z in self.zones.values() if like in z.name]
        return self._paged(request, found)

    async def _list_zones(self, request: web.Request) -> web.Response:
        like = request.query.get("name_like", "")
        found = [_zone_json(z, self.account) for z in sorted(self.zones.values(),
                 key=lambda z: z.name) if like in z.name]  # fmt: skip
        return self._paged(request, found)

    def _zone(self, request: web.Request) -> _Zone:
        key = request.match_info["zone"].lower()
        zone = self.zones.get(key) or next(
            (z for z in self.zones.values() if str(z.id) == key), None
        )
        if zone is None:
            raise _Refused(404, f"Zone `{key}` not found")
        return zone

    async def _get_zone(self, request: web.Request) -> web.Response:
        return self._json({"data": _zone_json(self._zone(request), self.account)})

    async def _list_records(self, request: web.Request) -> web.Response:
        zone, q = self._zone(request), request.query
        found = [
            r
            for _, r in sorted(zone.records.items())
            if q.get("name", r["name"]) == r["name"]
            and q.get("name_like", "") in r["name"]
            and q.get("type", r["type"]) == r["type"]
        ]
        return self._paged(request, found)

    async def _create(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        record = self._record(zone, await request.json(), next(self._ids))
        zone.records[record["id"]] = record
        return self._json({"data": record}, 201)

    async def _one(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        record_id = request.match_info["id"]
        old = zone.records.get(int(record_id)) if record_id.isdigit() else None
        if old is None:
            raise _Refused(404, f"Record `{record_id}` not found")
        if request.method == "GET":
            return self._json({"data": old})
        if old["system_record"]:
            raise _Refused(400, "System records cannot be modified")
        if request.method == "DELETE":
            del zone.records[old["id"]]
            return self._json(None, 204)
        body = await request.json()
        changes = {k: body[k] for k in _WRITABLE if k in body}
        record = self._record(zone, {**old, **changes}, old["id"])
        record["created_at"] = old["created_at"]
        zone.records[old["id"]] = record
        return self._json({"data": record})

    # --- record rules -----------------------------------------------------------------------

    @staticmethod
    def _record(zone: _Zone, fields: dict[str, Any], record_id: int) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        rdtype = str(fields.get("type") or "").upper()
        content = str(fields.get("content") or "")
        if rdtype not in _TYPES | {"SOA"}:
            errors["record_type"] = ["unsupported"]
        if not content:
            errors["content"] = ["can't be blank"]
        if "name" not in fields or fields["name"] is None:
            errors["name"] = ["can't be blank"]
        ttl = fields.get("ttl", 3600)
        if not isinstance(ttl, int) or isinstance(ttl, bool):
            errors["ttl"] = ["is not a number"]
        priority = fields.get("priority")
        if rdtype in ("MX", "SRV"):
            if not isinstance(priority, int):
                errors["priority"] = ["is not a number"]
        else:
            priority = None  # lexicon sends a placeholder string for TXT; DNSimple drops it
        if errors:
            raise _Refused(400, "Validation failed", errors)
        if rdtype in _HOSTS or rdtype == "SRV":
            content = content.rstrip(".")
        return {"id": record_id, "zone_id": zone.name, "parent_id": None,
                "name": str(fields["name"]).lower(), "content": content, "ttl": ttl,
                "priority": priority, "type": rdtype,
                "regions": list(fields.get("regions") or ["global"]),
                "system_record": bool(fields.get("system_record", False)),
                "created_at": _STAMP, "updated_at": _STAMP}  # fmt: skip


def _zone_json(zone: _Zone, account: str) -> dict[str, Any]:
    return {"id": zone.id, "account_id": int(account), "name": zone.name, "reverse": False,
            "secondary": False, "last_transferred_at": None, "active": True,
            "created_at": _STAMP, "updated_at": _STAMP}  # fmt: skip


def _domain_json(zone: _Zone, account: str) -> dict[str, Any]:
    """A domain in the shape of the 2018 recording (``/domains?name_like=``, lexicon's way)."""
    return {"id": zone.id, "account_id": int(account), "registrant_id": None, "name": zone.name,
            "unicode_name": zone.name, "state": "hosted", "auto_renew": False,
            "private_whois": False, "expires_on": None, "created_at": _STAMP,
            "updated_at": _STAMP}  # fmt: skip


def quota_exceeded(reset: int = QUOTA_RESET, times: int = 1) -> Fault:
    """DNSimple's answer past the hourly quota: 429, no ``Retry-After``, the reset time in
    ``X-RateLimit-Reset`` (``content/v2.md``, "Rate limiting")."""
    headers = {"X-RateLimit-Limit": "2400", "X-RateLimit-Remaining": "0",
               "X-RateLimit-Reset": str(reset)}  # fmt: skip
    return Fault(status=429, headers=headers, body={"message": "quota exceeded"}, times=times)
