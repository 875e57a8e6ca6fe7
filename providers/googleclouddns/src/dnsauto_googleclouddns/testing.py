"""A fake Cloud DNS API v1 and OAuth token endpoint that answer like Google's (checked against
lexicon's 2018 cassettes).

Under ``/dns/v1``: ``managedZones`` list (``dnsName`` filter, ``nextPageToken`` paging) and get
(by name or numeric id), ``rrsets`` list (``name``/``type`` filters, paged), ``changes`` create,
get and list. A change is atomic: a deletion must match the current RRset exactly (412
``conditionNotMet``), an addition must not exist after the deletions (409 ``alreadyExists``),
names must be FQDNs with the trailing dot inside the zone (400 ``invalid``); TTLs may come as
integers or strings (python-dns sends strings) and are answered as integers; empty lists are
left out of answers. A created change is ``pending``; ``changes.get`` says ``pending`` for the
next ``pending_polls`` reads, then ``done`` (``done_at``: the ``time.monotonic()`` each change
was first reported done). Google's error envelope throughout; 401 without a
token the fake issued. ``POST /token`` checks the JWT bearer grant: RS256 signature against the
test service account's public key, ``iss``, ``scope`` and expiry (400 ``invalid_grant``
otherwise); ``…:generateAccessToken`` under ``/v1`` impersonates. Not in any recording:
``visibility`` (only private zones carry it here, as the 2018 zones had none), the page size
(100 here), and the 403 ``quotaExceeded`` past 1,000 additions or deletions in a change.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from dnsauto.testing.fake_http import FakeApi, Handler

__all__ = ["CLIENT_EMAIL", "PROJECT", "FakeCloudDns", "service_account_json"]

PROJECT = "proj-1"
CLIENT_EMAIL = "dnsauto@proj-1.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_STAMP = "2018-07-06T18:42:27.476Z"
PAGE = 100
MAX_PER_CHANGE = 1000


def service_account_json(token_uri: str, key: rsa.RSAPrivateKey = _KEY) -> str:
    """A service account JSON key (the test key) whose ``token_uri`` is the fake's."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    return json.dumps({"type": "service_account", "project_id": PROJECT,
                       "private_key_id": "0123abcd", "private_key": pem,
                       "client_email": CLIENT_EMAIL, "client_id": "1234567890",
                       "token_uri": token_uri})  # fmt: skip


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status, self.reason, self.message = status, reason, message


@dataclass
class _Zone:
    id: str
    name: str
    dns_name: str
    visibility: str
    rrsets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakeCloudDns(FakeApi):
    """Zones of project ``PROJECT`` in memory; ``base_url`` is ``…/dns/v1``, ``root`` the host."""

    def __init__(self, project: str = PROJECT) -> None:
        self.project = project
        self.zones: dict[str, _Zone] = {}
        self.tokens: set[str] = set()
        self.pending_polls = 0
        self.done_at: dict[str, float] = {}
        self.impersonated: list[str] = []
        self._ids = itertools.count(212)
        self._zone_ids = itertools.count(699036609868956548)
        self.root = ""
        super().__init__()
        self.app.middlewares.append(self._gate)

    async def start(self) -> str:
        self.root = await super().start()
        self.base_url = self.root + "/dns/v1"
        return self.base_url

    @property
    def token_uri(self) -> str:
        return self.root + "/token"

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/token", self._token)
        router.add_post("/v1/projects/-/serviceAccounts/{target}", self._impersonate)
        z = "/dns/v1/projects/{project}/managedZones"
        router.add_get(z, self._list_zones)
        router.add_get(z + "/{zone}", self._get_zone)
        router.add_get(z + "/{zone}/rrsets", self._list_rrsets)
        router.add_post(z + "/{zone}/changes", self._create_change)
        router.add_get(z + "/{zone}/changes", self._list_changes)
        router.add_get(z + "/{zone}/changes/{id}", self._get_change)

    # --- state ------------------------------------------------------------------------------

    def add_zone(self, dns_name: str, name: str = "", zone_id: str = "",
                 visibility: str = "public") -> _Zone:  # fmt: skip
        dns_name = dns_name.rstrip(".").lower() + "."
        name = name or dns_name.rstrip(".").replace(".", "-")
        zone = _Zone(zone_id or str(next(self._zone_ids)), name, dns_name, visibility)
        self.zones[name] = zone
        ns = [f"ns-cloud-c{i}.googledomains.com." for i in range(1, 5)]
        soa = f"{ns[0]} cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"
        self.add_rrset(name, dns_name, "NS", ns, 21600)
        self.add_rrset(name, dns_name, "SOA", [soa], 21600)
        return zone

    def add_rrset(self, zone: str, name: str, rdtype: str, rrdatas: list[str], ttl: int = 300
                  ) -> None:  # fmt: skip
        self.zones[zone].rrsets[(name, rdtype)] = _rrset_json(name, rdtype, ttl, rrdatas)

    def rrsets(self, zone: str) -> list[dict[str, Any]]:
        return list(self.zones[zone].rrsets.values())

    def issue_token(self) -> str:
        token = f"ya29.fake-{len(self.tokens) + 1}"
        self.tokens.add(token)
        return token

    # --- gate -------------------------------------------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.path.startswith("/dns/"):
                auth = request.headers.get("Authorization", "")
                if auth.removeprefix("Bearer ") not in self.tokens:
                    raise _Refused(401, "authError", "Request had invalid authentication "
                                   "credentials. Expected OAuth 2 access token, login cookie or "
                                   "other valid authentication credential.")  # fmt: skip
                if request.match_info.get("project") != self.project:
                    raise _Refused(403, "forbidden", "Forbidden")
            return await handler(request)
        except _Refused as exc:
            error = {"message": exc.message, "domain": "global", "reason": exc.reason}
            body = {"error": {"errors": [error], "code": exc.status, "message": exc.message}}
            return web.json_response(body, status=exc.status)

    # --- OAuth ------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _oauth_error("unsupported_grant_type", "Invalid grant_type")
        problem = _check_jwt(str(form.get("assertion") or ""))
        if problem:
            return _oauth_error("invalid_grant", problem)
        return web.json_response({"access_token": self.issue_token(), "token_type": "Bearer",
                                  "expires_in": 3600})  # fmt: skip

    async def _impersonate(self, request: web.Request) -> web.Response:
        target, _, verb = request.match_info["target"].partition(":")
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if verb != "generateAccessToken" or token not in self.tokens:
            raise _Refused(401, "authError", "Request had invalid authentication credentials.")
        self.impersonated.append(target)
        return web.json_response({"accessToken": self.issue_token(),
                                  "expireTime": "2099-01-01T00:00:00Z"})  # fmt: skip

    # --- handlers ---------------------------------------------------------------------------

    def _zone(self, request: web.Request) -> _Zone:
        key = request.match_info["zone"]
        zone = self.zones.get(key) or next((z for z in self.zones.values() if z.id == key), None)
        if zone is None:
            raise _Refused(404, "notFound", f"The 'parameters.managedZone' resource named "
                           f"'{key}' does not exist.")  # fmt: skip
        return zone

    def _paged(self, request: web.Request, kind: str, key: str, items: list[Any]) -> web.Response:
        start = int(request.query.get("pageToken") or 0)
        size = min(PAGE, int(request.query.get("maxResults") or PAGE))
        body: dict[str, Any] = {"kind": f"dns#{kind}", key: items[start : start + size]}
        if start + size < len(items):
            body["nextPageToken"] = str(start + size)
        return web.json_response(body)

    async def _list_zones(self, request: web.Request) -> web.Response:
        wanted = request.query.get("dnsName")
        found = [_zone_json(z) for z in self.zones.values() if wanted in (None, z.dns_name)]
        return self._paged(request, "managedZonesListResponse", "managedZones", found)

    async def _get_zone(self, request: web.Request) -> web.Response:
        return web.json_response(_zone_json(self._zone(request)))

    async def _list_rrsets(self, request: web.Request) -> web.Response:
        zone, q = self._zone(request), request.query
        found = [r for (name, rdtype), r in sorted(zone.rrsets.items())
                 if q.get("name", name) == name and q.get("type", rdtype) == rdtype]  # fmt: skip
        return self._paged(request, "resourceRecordSetsListResponse", "rrsets", found)

    async def _create_change(self, request: web.Request) -> web.Response:
        zone, body = self._zone(request), await request.json()
        additions = [self._valid(zone, r, f"additions[{i}]")
                     for i, r in enumerate(body.get("additions") or [])]  # fmt: skip
        deletions = [self._valid(zone, r, f"deletions[{i}]")
                     for i, r in enumerate(body.get("deletions") or [])]  # fmt: skip
        if len(additions) > MAX_PER_CHANGE or len(deletions) > MAX_PER_CHANGE:
            raise _Refused(403, "quotaExceeded", "Quota exceeded for quota metric "
                           "'rrsetAdditionsPerChange'")  # fmt: skip
        rrsets = dict(zone.rrsets)
        for i, rrset in enumerate(deletions):
            if rrsets.pop((rrset["name"], rrset["type"]), None) != rrset:
                raise _Refused(412, "conditionNotMet", "Precondition not met for "
                               f"'entity.change.deletions[{i}]'")  # fmt: skip
        for rrset in additions:
            key = (rrset["name"], rrset["type"])
            if key in rrsets:
                raise _Refused(409, "alreadyExists", f"The resource 'entity.rrset' named "
                               f"'{key[0]} ({key[1]})' already exists")  # fmt: skip
            rrsets[key] = rrset
        zone.rrsets = rrsets
        change: dict[str, Any] = {"kind": "dns#change"}
        change |= {"additions": additions} if additions else {}
        change |= {"deletions": deletions} if deletions else {}
        change |= {"startTime": "2018-07-09T13:19:46.705Z", "id": str(next(self._ids)),
                   "status": "pending"}  # fmt: skip
        zone.changes[change["id"]] = change
        return web.json_response(change)

    async def _get_change(self, request: web.Request) -> web.Response:
        change = self._zone(request).changes.get(request.match_info["id"])
        if change is None:
            raise _Refused(404, "notFound", "The 'parameters.changeId' resource named "
                           f"'{request.match_info['id']}' does not exist.")  # fmt: skip
        if self.pending_polls > 0:
            self.pending_polls -= 1
        else:
            change["status"] = "done"
            self.done_at.setdefault(change["id"], time.monotonic())
        return web.json_response(change)

    async def _list_changes(self, request: web.Request) -> web.Response:
        changes = list(self._zone(request).changes.values())
        return self._paged(request, "changesListResponse", "changes", changes)

    @staticmethod
    def _valid(zone: _Zone, rrset: dict[str, Any], where: str) -> dict[str, Any]:
        name, rdtype, rrdatas = str(rrset.get("name")), rrset.get("type"), rrset.get("rrdatas")
        if not name.endswith(".") or not (
            name == zone.dns_name or name.endswith("." + zone.dns_name)
        ):
            raise _Refused(400, "invalid", f"Invalid value for 'entity.change.{where}.name': "
                           f"'{name}'")  # fmt: skip
        try:
            ttl = int(rrset.get("ttl", 0))
        except (TypeError, ValueError):
            ttl = -1
        if not rdtype or not rrdatas or ttl < 0:
            raise _Refused(400, "invalid", f"Invalid value for 'entity.change.{where}'")
        return _rrset_json(name, str(rdtype), ttl, [str(r) for r in rrdatas])


def _rrset_json(name: str, rdtype: str, ttl: int, rrdatas: list[str]) -> dict[str, Any]:
    return {"kind": "dns#resourceRecordSet", "name": name, "type": rdtype, "ttl": ttl,
            "rrdatas": rrdatas}  # fmt: skip


def _zone_json(zone: _Zone) -> dict[str, Any]:
    spec = [("keySigning", 2048), ("zoneSigning", 1024)]
    body = {"kind": "dns#managedZone", "name": zone.name, "dnsName": zone.dns_name,
            "description": "", "id": zone.id,
            "nameServers": [f"ns-cloud-c{i}.googledomains.com." for i in range(1, 5)],
            "creationTime": _STAMP,
            "dnssecConfig": {"kind": "dns#managedZoneDnsSecConfig", "state": "off",
                             "defaultKeySpecs": [{"kind": "dns#dnsKeySpec", "keyType": kind,
                                                  "algorithm": "rsasha256", "keyLength": bits}
                                                 for kind, bits in spec],
                             "nonExistence": "nsec3"}}  # fmt: skip
    if zone.visibility != "public":
        body["visibility"] = zone.visibility
    return body


def _oauth_error(error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=400)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check_jwt(assertion: str) -> str:
    """What is wrong with a JWT bearer assertion, or ``""``."""
    try:
        header, claims, signature = assertion.split(".")
        head, body = json.loads(_unb64(header)), json.loads(_unb64(claims))
        _KEY.public_key().verify(_unb64(signature), f"{header}.{claims}".encode(),
                                 padding.PKCS1v15(), hashes.SHA256())  # fmt: skip
    except InvalidSignature:
        return "Invalid JWT Signature."
    except ValueError:
        return "Invalid JWT: the assertion does not parse"
    if head.get("alg") != "RS256" or body.get("iss") != CLIENT_EMAIL:
        return "Invalid JWT: unknown issuer or algorithm"
    if body.get("scope") != SCOPE or not body.get("aud"):
        return "Invalid JWT: scope or audience"
    if not isinstance(body.get("exp"), int) or body["exp"] - body.get("iat", 0) > 3600:
        return "Invalid JWT: Token must be a short-lived token (60 minutes)"
    return ""
