"""A fake Porkbun JSON API v3 that answers like the real one (checked against lexicon's cassettes).

Everything is ``POST`` under ``/api/json/v3`` (``/dns/retrieve`` also ``GET``). Credentials are
``apikey``/``secretapikey`` in the JSON body, or the ``X-API-Key``/``X-Secret-API-Key`` headers
when the body carries no key; wrong ones get HTTP 400 ``{"status":"ERROR","message":"Invalid API
key. (002)"}``, a domain not in the account 400 ``Invalid domain.`` (recorded). Records are
listed with ``id``, ``ttl`` and ``prio`` as strings and the name fully qualified, grouped by
type; create takes the name relative to the domain (an FQDN is taken as relative too, so
``www.example.com`` becomes ``www.example.com.example.com``) and answers a numeric ``id``.
TTLs below 600 are stored as 600. ``editByNameType`` answers SUCCESS and changes nothing when
no record has that name and type (Stalwart's dns-update#67). Set :attr:`FakePorkbun.throttled`
to answer that many requests with openresty's HTML 503, as Porkbun throttles.
Not in any recording (from the docs and client code): listAll, the ByNameType endpoints, the
auth error text, the edit/delete error texts and the TTL floor.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from dnsauto.testing.fake_http import FakeApi

__all__ = ["API_KEY", "BASE_PATH", "SECRET_API_KEY", "THROTTLED_HTML", "FakePorkbun"]

API_KEY = "pk1_fake-porkbun-api-key"
SECRET_API_KEY = "sk1_fake-porkbun-secret-api-key"
BASE_PATH = "/api/json/v3"
MIN_TTL = 600
THROTTLED_HTML = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"
)
"""What Porkbun answers a client over its rate limit (DNSControl/dnscontrol#3225)."""
_TYPES = {"A", "MX", "CNAME", "ALIAS", "TXT", "NS", "AAAA", "SRV", "TLSA", "CAA", "HTTPS",
          "SVCB", "SSHFP"}  # fmt: skip
_Handler = Callable[[web.Request, "_Domain | None", dict[str, Any]], Awaitable[dict[str, Any]]]


class _Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        self.message, self.status = message, status


@dataclass
class _Domain:
    name: str
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakePorkbun(FakeApi):
    def __init__(self, api_key: str = API_KEY, secret_api_key: str = SECRET_API_KEY) -> None:
        self.keys = (api_key, secret_api_key)
        self.domains: dict[str, _Domain] = {}
        self.throttled = 0
        self._ids = itertools.count(500_000_001)
        super().__init__()

    async def start(self) -> str:
        self.base_url = (await super().start()) + BASE_PATH
        return self.base_url

    def routes(self, router: web.UrlDispatcher) -> None:
        def add(path: str, handler: _Handler, *, domain: bool = True) -> None:
            router.add_post(BASE_PATH + path, self._wrap(handler, domain))

        add("/ping", self._ping, domain=False)
        add("/domain/listAll", self._list_all, domain=False)
        for path in ("/dns/retrieve/{domain}", "/dns/retrieve/{domain}/{id}"):
            add(path, self._retrieve)
            router.add_get(BASE_PATH + path, self._wrap(self._retrieve, True))
        add("/dns/create/{domain}", self._create)
        add("/dns/edit/{domain}/{id}", self._edit)
        add("/dns/delete/{domain}/{id}", self._delete)
        for op, handler in (("retrieve", self._retrieve_by), ("edit", self._edit_by),
                            ("delete", self._delete_by)):  # fmt: skip
            add(f"/dns/{op}ByNameType/{{domain}}/{{type}}", handler)
            add(f"/dns/{op}ByNameType/{{domain}}/{{type}}/{{sub}}", handler)

    # --- state ------------------------------------------------------------------------------

    def add_domain(self, name: str, *, with_ns: bool = True) -> None:
        """A domain with Porkbun's four default NS records, as a new domain has."""
        self.domains[name] = _Domain(name)
        for host in ("maceio", "salvador", "fortaleza", "curitiba")[: 4 if with_ns else 0]:
            self.add_record(name, {"type": "NS", "content": f"{host}.porkbun.com",
                                   "ttl": "86400", "prio": None})  # fmt: skip

    def add_record(self, domain: str, fields: dict[str, Any], record_id: str | None = None) -> str:
        """A record as listed (``name`` fully qualified, the apex when absent)."""
        record_id = record_id or str(next(self._ids))
        record = {"id": record_id, "name": fields.get("name") or domain, "type": fields["type"],
                  "content": fields["content"], "ttl": str(fields.get("ttl") or MIN_TTL),
                  "prio": fields.get("prio", "0"), "notes": fields.get("notes")}  # fmt: skip
        self.domains[domain].records[record_id] = record
        return record_id

    def records(self, domain: str) -> list[dict[str, Any]]:
        return sorted(self.domains[domain].records.values(), key=lambda r: str(r["type"]))

    # --- plumbing ---------------------------------------------------------------------------

    def _wrap(self, handler: _Handler, needs_domain: bool) -> Callable[..., Any]:
        async def run(request: web.Request) -> web.Response:
            if self.throttled > 0:
                self.throttled -= 1
                return web.Response(status=503, text=THROTTLED_HTML, content_type="text/html")
            raw = await request.read()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return _error("Invalid JSON.", 400)
            try:
                self._check_keys(request, body)
                domain = None
                if needs_domain:
                    domain = self.domains.get(request.match_info["domain"])
                    if domain is None:
                        raise _Refused("Invalid domain.")
                answer = await handler(request, domain, body)
            except _Refused as exc:
                return _error(exc.message, exc.status)
            return web.json_response({"status": "SUCCESS", **answer})

        return run

    def _check_keys(self, request: web.Request, body: dict[str, Any]) -> None:
        if "apikey" in body or "secretapikey" in body:
            given = (body.get("apikey"), body.get("secretapikey"))
        else:  # header auth is honoured only when the body carries no key
            given = (request.headers.get("X-API-Key"), request.headers.get("X-Secret-API-Key"))
        if given != self.keys:
            raise _Refused("Invalid API key. (002)")

    # --- handlers ---------------------------------------------------------------------------

    async def _ping(self, request: web.Request, _: _Domain | None, __: Any) -> dict[str, Any]:
        return {"yourIp": request.remote, "xForwardedFor": request.remote}

    async def _list_all(self, _: web.Request, __: _Domain | None, body: Any) -> dict[str, Any]:
        start = int(body.get("start") or 0)
        names = sorted(self.domains)[start : start + 1000]
        return {"domains": [{"domain": n, "status": "ACTIVE", "tld": n.rsplit(".", 1)[-1],
                             "createDate": "2024-01-01 00:00:00",
                             "expireDate": "2027-01-01 00:00:00", "securityLock": "1",
                             "whoisPrivacy": "1", "autoRenew": 0, "notLocal": 0}
                            for n in names]}  # fmt: skip

    async def _retrieve(self, request: web.Request, domain: Any, _: Any) -> dict[str, Any]:
        records = self.records(domain.name)
        if "id" in request.match_info:
            records = [r for r in records if r["id"] == request.match_info["id"]]
        return {"cloudflare": "enabled", "records": records}

    def _matching(self, request: web.Request, domain: _Domain) -> list[dict[str, Any]]:
        sub = request.match_info.get("sub", "")
        fqdn = f"{sub}.{domain.name}" if sub else domain.name
        rdtype = request.match_info["type"]
        return [r for r in self.records(domain.name) if (r["name"], r["type"]) == (fqdn, rdtype)]

    async def _retrieve_by(self, request: web.Request, domain: Any, _: Any) -> dict[str, Any]:
        return {"records": self._matching(request, domain)}

    async def _create(self, _: web.Request, domain: Any, body: Any) -> dict[str, Any]:
        fields = self._fields(domain, body, name=str(body.get("name") or ""))
        return {"id": int(self.add_record(domain.name, fields))}

    async def _edit(self, request: web.Request, domain: Any, body: Any) -> dict[str, Any]:
        record = domain.records.get(request.match_info["id"])
        if record is None:
            raise _Refused("Edit error: We were unable to edit the DNS record.")
        fields = self._fields(domain, body, name=str(body.get("name") or ""))
        record.update({k: fields[k] for k in ("name", "type", "content", "ttl", "prio")})
        return {}

    async def _edit_by(self, request: web.Request, domain: Any, body: Any) -> dict[str, Any]:
        # Nothing with that name and type: SUCCESS, and nothing is created.
        for record in self._matching(request, domain):
            fields = self._fields(domain, {**body, "type": record["type"]}, name=None)
            record.update({k: fields[k] for k in ("content", "ttl", "prio")})
        return {}

    async def _delete(self, request: web.Request, domain: Any, _: Any) -> dict[str, Any]:
        if domain.records.pop(request.match_info["id"], None) is None:
            raise _Refused("Delete error: Invalid record ID.")
        return {}

    async def _delete_by(self, request: web.Request, domain: Any, _: Any) -> dict[str, Any]:
        for record in self._matching(request, domain):
            del domain.records[record["id"]]
        return {}

    def _fields(self, domain: _Domain, body: dict[str, Any], name: str | None) -> dict[str, Any]:
        rdtype, content = body.get("type"), body.get("content")
        if rdtype not in _TYPES:
            raise _Refused("Invalid type.")
        if content in (None, ""):
            raise _Refused("Invalid content.")
        try:
            ttl = max(MIN_TTL, int(body.get("ttl") or MIN_TTL))
            prio = str(int(body.get("prio") or 0))
        except (TypeError, ValueError):
            raise _Refused("Invalid TTL or priority.") from None
        fqdn = f"{name}.{domain.name}" if name else domain.name
        return {"name": fqdn, "type": rdtype, "content": str(content), "ttl": str(ttl),
                "prio": prio}  # fmt: skip


def _error(message: str, status: int) -> web.Response:
    return web.json_response({"status": "ERROR", "message": message}, status=status)
