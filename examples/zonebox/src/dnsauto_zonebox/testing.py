"""A fake Zonebox API on loopback, answering as the plugin's README describes the real one.

Bearer-token authentication (401 ``{"error": ...}`` otherwise); ``GET /zones`` two zones a
page with ``next_page``; RRsets by relative name (``@`` at the apex) and type, values checked
with dnspython (400 on a value that does not parse); ``DELETE`` answers 204 whether or not the
RRset existed. Faults (429, 5xx, resets) come from :class:`dnsauto.testing.fake_http.FakeApi`.
"""

from __future__ import annotations

from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from aiohttp import web

from dnsauto.testing.fake_http import FakeApi, Handler

__all__ = ["PAGE_SIZE", "TOKEN", "FakeZonebox"]

TOKEN = "fake-zonebox-token"
PAGE_SIZE = 2

_Key = tuple[str, str]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


class FakeZonebox(FakeApi):
    """Zones and their RRsets in memory; ``base_url`` is the API root (``/v1`` left out)."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.zones: dict[str, dict[_Key, dict[str, Any]]] = {}
        self.min_ttls: dict[str, int] = {}
        super().__init__()
        self.app.middlewares.append(self._gate)

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/zones", self._list_zones)
        router.add_get("/zones/{zone}/rrsets", self._list_rrsets)
        router.add_put("/zones/{zone}/rrsets/{name}/{type}", self._put)
        router.add_delete("/zones/{zone}/rrsets/{name}/{type}", self._delete)

    def add_zone(self, name: str, min_ttl: int = 60) -> None:
        self.zones[name.rstrip(".").lower()] = {}
        self.min_ttls[name.rstrip(".").lower()] = min_ttl

    def rrsets(self, zone: str) -> list[dict[str, Any]]:
        return list(self.zones[zone].values())

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                raise _Refused(401, "invalid or missing API token")
            return await handler(request)
        except _Refused as exc:
            return web.json_response({"error": exc.message}, status=exc.status)

    def _zone(self, request: web.Request) -> tuple[str, dict[_Key, dict[str, Any]]]:
        name = request.match_info["zone"]
        if name not in self.zones:
            raise _Refused(404, f"no zone {name} in this account")
        return name, self.zones[name]

    async def _list_zones(self, request: web.Request) -> web.Response:
        page = max(1, int(request.query.get("page", "1")))
        names = sorted(self.zones)
        shown = names[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        more = page * PAGE_SIZE < len(names)
        zones = [{"name": n, "min_ttl": self.min_ttls[n]} for n in shown]
        return web.json_response({"zones": zones, "next_page": page + 1 if more else None})

    async def _list_rrsets(self, request: web.Request) -> web.Response:
        _, rrsets = self._zone(request)
        return web.json_response({"rrsets": list(rrsets.values())})

    async def _put(self, request: web.Request) -> web.Response:
        zone, rrsets = self._zone(request)
        name, rdtype = request.match_info["name"].lower(), request.match_info["type"].upper()
        body = await request.json()
        ttl, values = body.get("ttl"), body.get("values")
        if not isinstance(ttl, int) or ttl < self.min_ttls[zone]:
            raise _Refused(400, f"ttl must be an integer of at least {self.min_ttls[zone]}")
        if not isinstance(values, list) or not values:
            raise _Refused(400, "values must be a non-empty list")
        try:
            origin = dns.name.from_text(zone)
            for value in values:
                dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=origin)
        except (dns.exception.DNSException, ValueError) as exc:
            raise _Refused(400, f"invalid {rdtype} value: {exc}") from None
        rrset = {"name": name, "type": rdtype, "ttl": ttl, "values": list(values)}
        rrsets[(name, rdtype)] = rrset
        return web.json_response({"rrset": rrset})

    async def _delete(self, request: web.Request) -> web.Response:
        _, rrsets = self._zone(request)
        key = (request.match_info["name"].lower(), request.match_info["type"].upper())
        rrsets.pop(key, None)
        return web.Response(status=204)
