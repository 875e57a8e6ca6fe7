"""A fake Spaceship DNS API v1, built from the contract file (no recorded traffic exists).

Under ``/api/v1``: ``X-API-Key``/``X-API-Secret`` checked (401 otherwise); ``GET /domains`` and
``GET /dns/records/{domain}`` paged with ``take`` (1-100 and 1-500) and ``skip`` answering
``{items, total}``; ``PUT /dns/records/{domain}`` ``{force, items}`` upserts: a record matching
type + name + data (case-insensitive, a TXT ``value`` case-sensitive) only gets the new TTL,
any other is added, nothing unmentioned is removed; a CNAME beside other records at its name is
a 422 unless ``force`` (then the conflicting records go); ``DELETE`` takes a JSON array and
answers 404 when nothing matches; a bad field is a 422 ``{detail, data: [{field, details}]}``
(lego's error fixture); TTL 60-3600; at most 500 items a call. Records carry
``group: {"type": "custom"}``; :meth:`FakeSpaceship.add_record` can add Spaceship's own.
From the SDK and Terraform provider notes, not recordings: the 401 and 404 bodies, the CNAME
conflict rule, 204 answers to writes.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from dnsauto.testing.fake_http import FakeApi

__all__ = ["API_KEY", "API_SECRET", "BASE_PATH", "THROTTLED", "FakeSpaceship"]

API_KEY = "fake-spaceship-api-key"
API_SECRET = "fake-spaceship-api-secret"
BASE_PATH = "/api/v1"
THROTTLED = {"detail": "Too many requests"}
_DATA = {"A": ("address",), "AAAA": ("address",), "CNAME": ("cname",), "TXT": ("value",),
         "MX": ("exchange", "preference"), "NS": ("nameserver",),
         "SRV": ("service", "protocol", "priority", "weight", "port", "target"),
         "CAA": ("flag", "tag", "value"),
         "TLSA": ("port", "protocol", "usage", "selector", "matching",
                  "associationData")}  # fmt: skip


class _Invalid(Exception):
    def __init__(self, field: str, details: str) -> None:
        self.field, self.details = field, details


def _fail(status: int, detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


def _key(item: dict[str, Any]) -> tuple[Any, ...]:
    fields = _DATA[item["type"]]
    data = tuple(item[f] if (item["type"], f) == ("TXT", "value") else str(item[f]).lower()
                 for f in fields)  # fmt: skip
    return (item["type"], str(item["name"]).lower(), *data)


class FakeSpaceship(FakeApi):
    def __init__(self, api_key: str = API_KEY, api_secret: str = API_SECRET) -> None:
        self.keys = (api_key, api_secret)
        self.domains: dict[str, list[dict[str, Any]]] = {}
        super().__init__()

    async def start(self) -> str:
        self.base_url = (await super().start()) + BASE_PATH
        return self.base_url

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(BASE_PATH + "/domains", self._list_domains)
        for method in ("GET", "PUT", "DELETE"):
            router.add_route(method, BASE_PATH + "/dns/records/{domain}", self._records)

    def add_domain(self, name: str) -> None:
        self.domains[name] = []

    def add_record(self, domain: str, item: dict[str, Any], group: str = "custom") -> None:
        self.domains[domain].append({**item, "group": {"type": group}})

    def records(self, domain: str) -> list[dict[str, Any]]:
        return list(self.domains[domain])

    def _authorized(self, request: web.Request) -> bool:
        return (request.headers.get("X-API-Key"), request.headers.get("X-API-Secret")) == self.keys

    @staticmethod
    def _page(request: web.Request, items: list[Any], most: int) -> web.Response:
        try:
            take = int(request.query.get("take", str(most)))
            skip = int(request.query.get("skip", "0"))
            if not 1 <= take <= most or skip < 0:
                raise ValueError
        except ValueError:
            return _invalid(_Invalid("take", f"take must be between 1 and {most}"))
        return web.json_response({"items": items[skip : skip + take], "total": len(items)})

    async def _list_domains(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _fail(401, "Unauthorized")
        if "take" not in request.query or "skip" not in request.query:
            return _invalid(_Invalid("take", "take and skip are required"))
        names = sorted(self.domains)
        items = [{"name": n, "unicodeName": n, "isPremium": False, "autoRenew": True,
                  "nameservers": {"provider": "basic",
                                  "hosts": ["launch1.spaceship.net", "launch2.spaceship.net"]}}
                 for n in names]  # fmt: skip
        return self._page(request, items, 100)

    async def _records(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _fail(401, "Unauthorized")
        records = self.domains.get(request.match_info["domain"])
        if records is None:
            return _fail(404, "Domain not found")
        if request.method == "GET":
            ordered = sorted(records, key=lambda r: str(r["type"]))
            return self._page(request, ordered, 500)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _invalid(_Invalid("body", "The body is not valid JSON"))
        try:
            if request.method == "PUT":
                self._upsert(records, body)
                return web.Response(status=204)
            if not isinstance(body, list):
                raise _Invalid("body", "A list of records is expected")
            keys = {_key(_checked(item, f"[{i}]", ttl=False)) for i, item in enumerate(body)}
        except _Invalid as exc:
            return _invalid(exc)
        kept = [r for r in records if r["group"]["type"] != "custom" or _key(r) not in keys]
        if len(kept) == len(records):
            return _fail(404, "Records not found")
        records[:] = kept
        return web.Response(status=204)

    def _upsert(self, records: list[dict[str, Any]], body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise _Invalid("items", "The items field is required")
        if len(body["items"]) > 500:
            raise _Invalid("items", "At most 500 items")
        items = [_checked(item, f"items[{i}]", ttl=True) for i, item in enumerate(body["items"])]
        for index, item in enumerate(items):
            same = [r for r in records if r["group"]["type"] == "custom" and _key(r) == _key(item)]
            if same:
                for record in same:
                    record["ttl"] = item["ttl"]
                continue
            name = str(item["name"]).lower()
            clash = [r for r in records if str(r["name"]).lower() == name
                     and "CNAME" in (r["type"], item["type"]) and r["type"] not in ("SRV", "TLSA")
                     and item["type"] not in ("SRV", "TLSA")]  # fmt: skip
            if clash and not body.get("force"):
                raise _Invalid(f"items[{index}].name", "A CNAME record conflicts at this name")
            for record in clash:
                records.remove(record)
            records.append({**item, "group": {"type": "custom"}})


def _checked(item: Any, where: str, *, ttl: bool) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("type") not in _DATA:
        raise _Invalid(f"{where}.type", "The record type is not supported")
    name = item.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 253:
        raise _Invalid(f"{where}.name", "The name must be 1 to 253 characters")
    if ttl and not (isinstance(item.get("ttl"), int) and 60 <= item["ttl"] <= 3600):
        raise _Invalid(f"{where}.ttl", "The TTL must be between 60 and 3600")
    for field in _DATA[item["type"]]:
        value = item.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise _Invalid(f"{where}.{field}", f"{field.title()} field is required")
    fields = ("type", "name", *(("ttl",) if ttl else ()), *_DATA[item["type"]])
    return {k: item[k] for k in fields if k in item}


def _invalid(exc: _Invalid) -> web.Response:
    return web.json_response(
        {"detail": "^$", "data": [{"field": exc.field, "details": exc.details}]}, status=422
    )
