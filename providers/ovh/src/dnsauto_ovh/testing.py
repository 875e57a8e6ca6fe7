"""A fake OVH API 1.0 (``/domain/zone``), built on ``../shared/provider-api/ovh.md`` and checked
against the dns-lexicon recordings (``../shared/cassettes/ovh``).

What it rests on: every call but ``GET /auth/time`` carries ``X-Ovh-Application``,
``X-Ovh-Consumer``, ``X-Ovh-Timestamp`` and ``X-Ovh-Signature`` = ``"$1$"`` + SHA1 of
``AS+CK+METHOD+full URL+body+timestamp`` (python-ovh ``raw_call``, re-computed in ovh.md); the
fake rebuilds the URL the client used and refuses a wrong signature (400 ``INVALID_SIGNATURE``,
the body quoted in ovh.md). ``/auth/time`` answers a bare integer; zones are listed as an array
of names; records as an array of integer ids, each fetched on its own; PUT and DELETE answer
``null``; writes are published only by ``POST /domain/zone/{zone}/refresh``; TXT targets come
back wrapped in double quotes (the 2025 live capture). Guessed, as no source shows them: the
bodies for an unknown consumer key (403 ``INVALID_CREDENTIAL``), a stale timestamp (400
``QUERY_TIME_OUT``, "Query out of time", as forum reports quote it) and the skew allowed
(:attr:`FakeOvh.max_skew`), unknown application key and missing objects (404).
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from aiohttp import web

from dnsauto.testing.fake_http import FakeApi, Handler

__all__ = ["APPLICATION_KEY", "APPLICATION_SECRET", "CONSUMER_KEY", "FakeOvh", "signature"]

APPLICATION_KEY = "fake-ovh-application-key"
APPLICATION_SECRET = "fake-ovh-application-secret"
CONSUMER_KEY = "fake-ovh-consumer-key"
_TXT_LIKE = {"SPF", "DKIM", "DMARC"}  # OVH's own field types, served as TXT


def signature(secret: str, consumer: str, method: str, url: str, body: str, stamp: str) -> str:
    """The ``X-Ovh-Signature`` of a request, as python-ovh computes it."""
    text = "+".join([secret, consumer, method.upper(), url, body, stamp])
    return "$1$" + hashlib.sha1(text.encode()).hexdigest()


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


_HTTP = {400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden",
         404: "404 Not Found"}  # fmt: skip


@dataclass
class _Zone:
    name: str
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    published: dict[int, dict[str, Any]] = field(default_factory=dict)
    refreshes: int = 0


class FakeOvh(FakeApi):
    """Zones and records in memory; ``base_url`` ends in ``/1.0`` like OVH's endpoints.

    ``now`` is the server's clock (a test sets it apart from the client's to show that the
    client signs with the offset read from ``/auth/time``); ``consumer_keys`` are the valid ones.
    """

    max_skew = 120
    """Seconds a timestamp may differ from the server's clock (not documented; a guess)."""

    def __init__(
        self,
        application_key: str = APPLICATION_KEY,
        application_secret: str = APPLICATION_SECRET,
        consumer_keys: tuple[str, ...] = (CONSUMER_KEY,),
        now: Callable[[], float] = time.time,
    ) -> None:
        self.application_key, self.application_secret = application_key, application_secret
        self.consumer_keys = set(consumer_keys)
        self.now = now
        self.zones: dict[str, _Zone] = {}
        self._ids = itertools.count(5_390_038_375)
        super().__init__()
        self.app.middlewares.append(self._gate)

    def routes(self, router: web.UrlDispatcher) -> None:
        z = "/1.0/domain/zone/{zone}"
        router.add_get("/1.0/auth/time", self._time)
        router.add_get("/1.0/domain/zone", self._list_zones)
        router.add_get("/1.0/domain/zone/", self._list_zones)
        router.add_get(z + "/status", self._status)
        router.add_get(z + "/record", self._list_records)
        router.add_post(z + "/record", self._create)
        router.add_get(z + "/record/{id}", self._get)
        router.add_put(z + "/record/{id}", self._update)
        router.add_delete(z + "/record/{id}", self._delete)
        router.add_post(z + "/refresh", self._refresh)

    async def start(self) -> str:
        self.base_url = await super().start() + "/1.0"
        return self.base_url

    # --- state ------------------------------------------------------------------------------

    def add_zone(self, name: str) -> None:
        self.zones[name.rstrip(".").lower()] = _Zone(name.rstrip(".").lower())

    def add_record(self, zone: str, fields: dict[str, Any], record_id: int | None = None) -> int:
        record = _record(fields, record_id or next(self._ids), zone)
        self.zones[zone].records[record["id"]] = record
        self.zones[zone].published[record["id"]] = record
        return int(record["id"])

    def records(self, zone: str) -> list[dict[str, Any]]:
        return list(self.zones[zone].records.values())

    def published(self, zone: str) -> list[dict[str, Any]]:
        """The records the zone served at its last refresh."""
        return list(self.zones[zone].published.values())

    # --- gate -------------------------------------------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.headers.get("X-Ovh-Application") != self.application_key:
                raise _Refused(403, "INVALID_KEY", "This application key is invalid")
            if request.path != "/1.0/auth/time":
                await self._check_signature(request)
            return await handler(request)
        except _Refused as exc:
            body = {"errorCode": exc.code, "httpCode": _HTTP[exc.status], "message": exc.message}
            return web.json_response(body, status=exc.status)

    async def _check_signature(self, request: web.Request) -> None:
        consumer = request.headers.get("X-Ovh-Consumer", "")
        if consumer not in self.consumer_keys:
            raise _Refused(403, "INVALID_CREDENTIAL", "This credential does not exist")
        stamp = request.headers.get("X-Ovh-Timestamp", "")
        if not stamp.isdigit() or abs(int(stamp) - self.now()) > self.max_skew:
            raise _Refused(400, "QUERY_TIME_OUT", "Query out of time")
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        body = (await request.read()).decode()
        wanted = signature(self.application_secret, consumer, request.method, url, body, stamp)
        if request.headers.get("X-Ovh-Signature") != wanted:
            raise _Refused(400, "INVALID_SIGNATURE", "Invalid signature")

    def _zone(self, request: web.Request) -> _Zone:
        zone = self.zones.get(request.match_info["zone"])
        if zone is None:
            raise _Refused(404, "RESOURCE_NOT_FOUND", "This service does not exist")
        return zone

    def _record_of(self, zone: _Zone, request: web.Request) -> dict[str, Any]:
        raw = request.match_info["id"]
        record = zone.records.get(int(raw)) if raw.isdigit() else None
        if record is None:
            message = f"The requested object (id = {raw}) does not exist"
            raise _Refused(404, "RESOURCE_NOT_FOUND", message)
        return record

    # --- handlers ---------------------------------------------------------------------------

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response(int(self.now()))

    async def _list_zones(self, request: web.Request) -> web.Response:
        return web.json_response(sorted(self.zones))

    async def _status(self, request: web.Request) -> web.Response:
        self._zone(request)
        return web.json_response({"warnings": None, "errors": None, "isDeployed": True})

    async def _list_records(self, request: web.Request) -> web.Response:
        zone, q = self._zone(request), request.query
        found = [
            r["id"]
            for r in zone.records.values()
            if q.get("fieldType", r["fieldType"]) == r["fieldType"]
            and q.get("subDomain", r["subDomain"]) == r["subDomain"]
        ]
        return web.json_response(found)

    async def _create(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        record = _record(await _body(request), next(self._ids), zone.name)
        zone.records[record["id"]] = record
        return web.json_response(record)

    async def _get(self, request: web.Request) -> web.Response:
        return web.json_response(self._record_of(self._zone(request), request))

    async def _update(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        old = self._record_of(zone, request)
        body = await _body(request)
        changes: dict[str, Any] = {k: body[k] for k in ("subDomain", "target", "ttl") if k in body}
        zone.records[old["id"]] = _record({**old, **changes}, old["id"], zone.name)
        return web.json_response(None)

    async def _delete(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        del zone.records[self._record_of(zone, request)["id"]]
        return web.json_response(None)

    async def _refresh(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        zone.published = dict(zone.records)
        zone.refreshes += 1
        return web.json_response(None)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _Refused(400, "INVALID_ARGUMENT", "Invalid JSON body")
    return body


def _record(fields: dict[str, Any], record_id: int, zone: str) -> dict[str, Any]:
    rdtype, target = fields.get("fieldType"), fields.get("target")
    sub, ttl = fields.get("subDomain", ""), fields.get("ttl", 0)
    if not isinstance(rdtype, str) or not rdtype:
        raise _Refused(400, "INVALID_ARGUMENT", "Missing parameter: fieldType")
    if not isinstance(target, str) or not target:
        raise _Refused(400, "INVALID_ARGUMENT", "Missing parameter: target")
    if not isinstance(sub, str) or not isinstance(ttl, int) or isinstance(ttl, bool):
        raise _Refused(400, "INVALID_ARGUMENT", "Invalid subDomain or ttl")
    if rdtype == "TXT" and not target.startswith('"'):
        target = f'"{target}"'  # OVH wraps TXT in quotes since 2025
    if rdtype not in _TXT_LIKE:
        try:
            dns.rdata.from_text(dns.rdataclass.IN, rdtype, target, dns.name.from_text(zone))
        except (dns.exception.DNSException, ValueError):
            raise _Refused(400, "INVALID_ARGUMENT", f"Invalid target for {rdtype}") from None
    return {"target": target, "ttl": ttl, "zone": zone, "fieldType": rdtype, "id": record_id,
            "subDomain": sub.lower()}  # fmt: skip
