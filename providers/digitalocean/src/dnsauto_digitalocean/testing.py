"""A fake DigitalOcean API v2 that answers like the real one (checked against lexicon's cassettes).

Domains and records in memory under ``/v2``; ``Authorization: Bearer`` checked (401
``unauthorized`` otherwise); listings paged (20 a page by default, ``per_page`` up to 200) with
``links.pages`` ``first``/``prev``/``next``/``last`` as absolute URLs and ``meta.total``;
``?name=`` filters by the fully qualified name, ``?type=`` by type; records carry every field,
``null`` where the type does not use it; names relative (``@`` the apex), host targets stored
without their trailing dot; create 201, update 200, delete 204; errors ``{"id", "message"}``.
Not in any recording, from the OpenAPI description: the 401 and 422 bodies, and TLSA (not a
DigitalOcean record type) refused with 422. The lowest TTL accepted is 30 (lego's default).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from dnsauto.testing.fake_http import FakeApi

__all__ = ["THROTTLED", "TOKEN", "FakeDigitalOcean"]

TOKEN = "fake-digitalocean-token"
THROTTLED = {"id": "too_many_requests", "message": "API rate limit exceeded."}
"""DigitalOcean's 429 body (shared/responses/too_many_requests.yml)."""
_TYPES = {"A", "AAAA", "CAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT"}
_HOSTS = {"CNAME", "MX", "NS", "SRV"}
_NEEDS = {"MX": ("priority",), "SRV": ("priority", "port", "weight"), "CAA": ("flags", "tag")}


class _Refused(Exception):
    def __init__(self, status: int, slug: str, message: str) -> None:
        self.status, self.slug, self.message = status, slug, message


@dataclass
class _Domain:
    name: str
    ttl: int = 1800
    records: dict[int, dict[str, Any]] = field(default_factory=dict)


def _error(status: int, slug: str, message: str) -> web.Response:
    return web.json_response({"id": slug, "message": message}, status=status)


_NOT_FOUND = (404, "not_found", "The resource you were accessing could not be found.")


class FakeDigitalOcean(FakeApi):
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.domains: dict[str, _Domain] = {}
        self._ids = itertools.count(100_000_001)
        super().__init__()

    async def start(self) -> str:
        root = await super().start()
        self.base_url = root + "/v2"
        return self.base_url

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v2/domains", self._list_domains)
        router.add_get("/v2/domains/{domain}", self._get_domain)
        router.add_get("/v2/domains/{domain}/records", self._list_records)
        router.add_post("/v2/domains/{domain}/records", self._create)
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            router.add_route(method, "/v2/domains/{domain}/records/{id}", self._one)

    # --- state ------------------------------------------------------------------------------

    def add_domain(self, name: str, *, with_soa_and_ns: bool = True) -> None:
        """A domain with DigitalOcean's own SOA and NS records, as a new domain has."""
        self.domains[name] = _Domain(name)
        for rdtype, data in (
            ("SOA", "1800"),
            ("NS", "ns1.digitalocean.com"),
            ("NS", "ns2.digitalocean.com"),
            ("NS", "ns3.digitalocean.com"),
        )[: 4 if with_soa_and_ns else 0]:
            self.add_record(name, {"type": rdtype, "name": "@", "data": data, "ttl": 1800})

    def add_record(self, domain: str, fields: dict[str, Any], record_id: int | None = None) -> int:
        zone = self.domains[domain]
        record = self._record(zone, fields, record_id or next(self._ids))
        zone.records[record["id"]] = record
        return int(record["id"])

    def records(self, domain: str) -> list[dict[str, Any]]:
        return list(self.domains[domain].records.values())

    # --- handlers ---------------------------------------------------------------------------

    def _domain(self, request: web.Request) -> _Domain:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise _Refused(401, "unauthorized", "Unable to authenticate you")
        if "domain" not in request.match_info:
            return _Domain("")
        domain = self.domains.get(request.match_info["domain"])
        if domain is None:
            raise _Refused(*_NOT_FOUND)
        return domain

    async def _list_domains(self, request: web.Request) -> web.Response:
        try:
            self._domain(request)
        except _Refused as exc:
            return _error(exc.status, exc.slug, exc.message)
        return self._paged(request, "domains", [_domain_json(d) for d in self.domains.values()])

    async def _get_domain(self, request: web.Request) -> web.Response:
        try:
            return web.json_response({"domain": _domain_json(self._domain(request))})
        except _Refused as exc:
            return _error(exc.status, exc.slug, exc.message)

    async def _list_records(self, request: web.Request) -> web.Response:
        try:
            domain = self._domain(request)
        except _Refused as exc:
            return _error(exc.status, exc.slug, exc.message)
        name, rdtype = request.query.get("name"), request.query.get("type")
        found = [r for r in domain.records.values()
                 if name in (None, _fqdn(r["name"], domain.name))
                 and rdtype in (None, r["type"])]  # fmt: skip
        return self._paged(request, "domain_records", found)

    async def _create(self, request: web.Request) -> web.Response:
        try:
            domain = self._domain(request)
            record = self._record(domain, await request.json(), next(self._ids))
        except _Refused as exc:
            return _error(exc.status, exc.slug, exc.message)
        domain.records[record["id"]] = record
        return web.json_response({"domain_record": record}, status=201)

    async def _one(self, request: web.Request) -> web.StreamResponse:
        try:
            domain = self._domain(request)
            record_id = int(request.match_info["id"]) if request.match_info["id"].isdigit() else 0
            current = domain.records.get(record_id)
            if current is None:
                raise _Refused(*_NOT_FOUND)
            if request.method == "DELETE":
                del domain.records[record_id]
                return web.Response(status=204)
            if request.method == "GET":
                return web.json_response({"domain_record": current})
            body = await request.json()
            merged = {**current, **body} if request.method == "PATCH" else body
            record = self._record(domain, merged, record_id)
        except _Refused as exc:
            return _error(exc.status, exc.slug, exc.message)
        domain.records[record_id] = record
        return web.json_response({"domain_record": record})

    @staticmethod
    def _paged(request: web.Request, key: str, items: list[Any]) -> web.Response:
        page = max(1, int(request.query.get("page", "1")))
        per_page = min(200, max(1, int(request.query.get("per_page", "20"))))
        last = max(1, -(-len(items) // per_page))
        url = request.url

        def link(number: int) -> str:
            return str(url.update_query(page=number))

        pages: dict[str, str] = {}
        if page > 1:
            pages |= {"first": link(1), "prev": link(page - 1)}
        if page < last:
            pages |= {"last": link(last), "next": link(page + 1)}
        links = {"pages": pages} if pages else {}
        chunk = items[(page - 1) * per_page : page * per_page]
        return web.json_response({key: chunk, "links": links, "meta": {"total": len(items)}})

    # --- record rules -----------------------------------------------------------------------

    def _record(self, domain: _Domain, fields: dict[str, Any], record_id: int) -> dict[str, Any]:
        rdtype, data = fields.get("type"), fields.get("data")
        if rdtype not in _TYPES:
            raise _Refused(422, "unprocessable_entity", f"Record type {rdtype} is not valid")
        if data in (None, ""):
            raise _Refused(422, "unprocessable_entity", "Data needs to be present")
        for needed in _NEEDS.get(str(rdtype), ()):
            if fields.get(needed) is None:
                raise _Refused(422, "unprocessable_entity", f"{needed.title()} is required")
        ttl = int(fields.get("ttl") or domain.ttl)
        if ttl < 30:
            raise _Refused(422, "unprocessable_entity", "TTL must be at least 30 seconds")
        data = str(data)
        if rdtype in _HOSTS and data != "@":
            data = data.rstrip(".")
        record = {"id": record_id, "type": rdtype, "name": _relative(fields, domain.name),
                  "data": data, "ttl": ttl}  # fmt: skip
        return _ordered(record, fields)


def _ordered(record: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The record's keys in the recorded order: id, type, name, data, priority, port, ttl,
    weight, flags, tag."""
    return {"id": record["id"], "type": record["type"], "name": record["name"],
            "data": record["data"], "priority": fields.get("priority"), "port": fields.get("port"),
            "ttl": record["ttl"], "weight": fields.get("weight"), "flags": fields.get("flags"),
            "tag": fields.get("tag")}  # fmt: skip


def _relative(fields: dict[str, Any], domain: str) -> str:
    name = str(fields.get("name") or "@").rstrip(".")
    if name in ("@", domain):
        return "@"
    return name.removesuffix("." + domain)


def _fqdn(name: str, domain: str) -> str:
    return domain if name == "@" else f"{name}.{domain}"


def _domain_json(domain: _Domain) -> dict[str, Any]:
    lines = [f"$ORIGIN {domain.name}.", f"$TTL {domain.ttl}"]
    for record in domain.records.values():
        owner = _fqdn(record["name"], domain.name) + "."
        lines.append(f"{owner} {record['ttl']} IN {record['type']} {record['data']}")
    return {"name": domain.name, "ttl": domain.ttl, "zone_file": "\n".join(lines) + "\n"}
