"""A fake deSEC API v1 that answers like the real one (checked against lexicon's cassettes).

Domains and RRsets in memory under ``/api/v1``; ``Authorization: Token`` checked (401
``{"detail": "Invalid token."}`` otherwise); RRsets listed newest first, at most 500 a
response, with cursor pagination in ``Link`` headers (400 when more would match and no
``cursor`` was sent); single and bulk writes, bulk ones atomic with per-item errors aligned
with the request; ``"records": []`` deletes (204 on a single RRset); TTLs below the domain's
``minimum_ttl`` refused; records canonicalised (TXT quoted, names absolute). The paths
lexicon uses (``rrsets//``, ``rrsets/{subname}/{type}//``) are accepted as the live server did.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from aiohttp import web

from dnsauto.testing.fake_http import FakeApi

__all__ = ["PAGE_SIZE", "THROTTLED", "TOKEN", "FakeDesec"]

TOKEN = "fake-desec-token"
PAGE_SIZE = 500
THROTTLED = {"detail": "Request was throttled. Expected available in 1 second."}
"""deSEC's 429 body (docs/rate-limits.rst); lexicon's recordings filter 429s out."""
_AUTOMATIC = {"SOA", "DNSKEY", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "CDS", "CDNSKEY"}
_SUBNAME_RULE = "Subname can only use (lowercase) a-z, 0-9, ., -, and _, may start with a " + (
    "'*.', or just be '*'."
)
_STAMP = "2025-10-15T23:22:14.754330Z"


class _Invalid(Exception):
    def __init__(self, errors: dict[str, list[str]], status: int = 400) -> None:
        self.errors, self.status = errors, status


@dataclass
class _Domain:
    name: str
    minimum_ttl: int
    rrsets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def _detail(status: int, text: str) -> web.Response:
    return web.json_response({"detail": text}, status=status)


class FakeDesec(FakeApi):
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.domains: dict[str, _Domain] = {}
        self._clock = itertools.count()
        super().__init__()

    async def start(self) -> str:
        root = await super().start()
        self.base_url = root + "/api/v1"
        return self.base_url

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/v1/domains/", self._list_domains)
        router.add_get("/api/v1/domains/{name}/", self._get_domain)
        router.add_route("*", "/api/v1/domains/{name}/rrsets/{rest:.*}", self._rrsets)

    # --- state ------------------------------------------------------------------------------

    def add_domain(self, name: str, minimum_ttl: int = 3600) -> None:
        self.domains[name.rstrip(".")] = _Domain(name.rstrip("."), minimum_ttl)

    def add_rrset(self, domain: str, subname: str, rdtype: str, ttl: int, *records: str) -> None:
        zone = self.domains[domain]
        zone.rrsets[(subname, rdtype)] = self._rrset(zone, subname, rdtype, ttl, list(records))

    def rrsets(self, domain: str) -> list[dict[str, Any]]:
        return list(self.domains[domain].rrsets.values())

    # --- handlers ---------------------------------------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return _detail(401, "Authentication credentials were not provided.")
        return None if header == f"Token {self.token}" else _detail(401, "Invalid token.")

    async def _list_domains(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        qname = request.query.get("owns_qname")
        found = list(self.domains.values())
        if qname is not None:
            held = [d for d in found if _under(qname, d.name)]
            found = sorted(held, key=lambda d: -len(d.name))[:1]
        return web.json_response([_domain_json(d, keys=False) for d in found])

    async def _get_domain(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        domain = self.domains.get(request.match_info["name"])
        if domain is None:
            return _detail(404, "No Domain matches the given query.")
        return web.json_response(_domain_json(domain, keys=True))

    async def _rrsets(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        domain = self.domains.get(request.match_info["name"])
        if domain is None:
            return _detail(404, "Not found.")
        parts = [p for p in request.match_info["rest"].split("/") if p]
        raw = await request.read()
        body = json.loads(raw) if raw else None
        try:
            if not parts:
                return await self._collection(request, domain, body)
            if len(parts) == 2:
                subname = "" if parts[0] in ("@", "...") else parts[0].removesuffix("...")
                return self._one(request.method, domain, (subname, parts[1]), body)
        except _Invalid as exc:
            return web.json_response(exc.errors, status=exc.status)
        return _detail(404, "Not found.")

    async def _collection(self, request: web.Request, domain: _Domain, body: Any) -> web.Response:
        if request.method == "GET":
            return self._listing(request, domain)
        if request.method == "POST" and isinstance(body, dict):
            if (body.get("subname", ""), body.get("type")) in domain.rrsets:
                raise _Invalid({"non_field_errors": [
                    "Another RRset with the same subdomain and type exists for this domain. "
                    "(Try modifying it.)"]})  # fmt: skip
            rrset = self._write(domain, body, partial=False)
            return web.json_response(rrset, status=201)
        if request.method in ("POST", "PUT", "PATCH") and isinstance(body, list):
            return self._bulk(request.method, domain, body)
        return _detail(405, f'Method "{request.method}" not allowed.')

    def _listing(self, request: web.Request, domain: _Domain) -> web.Response:
        query = request.query
        found = [r for r in reversed(domain.rrsets.values())
                 if query.get("type") in (None, r["type"])
                 and query.get("subname") in (None, r["subname"])]  # fmt: skip
        url = request.url.with_query({k: v for k, v in query.items() if k != "cursor"})
        if "cursor" not in query:
            if len(found) <= PAGE_SIZE:
                return web.json_response(found)
            first = f'<{url.update_query(cursor="")}>; rel="first"'
            return web.json_response(
                {"detail": f"Pagination required. You can query up to {PAGE_SIZE} items at a "
                 f"time ({len(found)} total). Please use the `first` page link (see Link "
                 "header)."}, status=400, headers={"Link": first})  # fmt: skip
        start = _offset(query["cursor"])
        links = []
        if start + PAGE_SIZE < len(found):
            links.append(f'<{url.update_query(cursor=_cursor(start + PAGE_SIZE))}>; rel="next"')
        if start:
            links.append(f'<{url.update_query(cursor=_cursor(start - PAGE_SIZE))}>; rel="prev"')
        headers = {"Link": ", ".join(links)} if links else {}
        return web.json_response(found[start : start + PAGE_SIZE], headers=headers)

    def _bulk(self, method: str, domain: _Domain, body: list[Any]) -> web.Response:
        saved = dict(domain.rrsets)
        errors: list[dict[str, list[str]]] = []
        written = []
        for item in body:
            try:
                written.append(self._write(domain, item, partial=method == "PATCH"))
                errors.append({})
            except _Invalid as exc:
                errors.append(exc.errors)
        if any(errors):
            domain.rrsets = saved  # atomic: all or nothing
            return web.json_response(errors, status=400)
        return web.json_response([w for w in written if w is not None],
                                 status=201 if method == "POST" else 200)  # fmt: skip

    def _one(
        self, method: str, domain: _Domain, key: tuple[str, str], body: Any
    ) -> web.StreamResponse:
        current = domain.rrsets.get(key)
        if method == "DELETE":
            domain.rrsets.pop(key, None)
            return web.Response(status=204)
        if current is None:
            return _detail(404, "Not found.")
        if method == "GET":
            return web.json_response(current)
        if method not in ("PATCH", "PUT") or not isinstance(body, dict):
            return _detail(405, f'Method "{method}" not allowed.')
        fields = {k: v for k, v in body.items() if k in ("ttl", "records")}
        rrset = self._write(domain, {"subname": key[0], "type": key[1], **fields},
                            partial=method == "PATCH")  # fmt: skip
        return web.json_response(rrset) if rrset is not None else web.Response(status=204)

    # --- RRset rules ------------------------------------------------------------------------

    def _write(self, domain: _Domain, item: Any, *, partial: bool) -> dict[str, Any] | None:
        """Create, change or (with no records) delete one RRset; its new form, if any."""
        if not isinstance(item, dict):
            raise _Invalid({"non_field_errors": ["Invalid data. Expected a dictionary."]})
        subname, rdtype = item.get("subname", ""), item.get("type")
        if not isinstance(rdtype, str) or not isinstance(subname, str):
            raise _Invalid({"type": ["This field is required."]})
        key = (subname, rdtype)
        current = domain.rrsets.get(key)
        records = item.get("records", current["records"] if current and partial else None)
        if records == []:
            domain.rrsets.pop(key, None)
            return None
        ttl = item.get("ttl", current["ttl"] if current and partial else None)
        if records is None or ttl is None:
            missing = "records" if records is None else "ttl"
            raise _Invalid({missing: ["This field is required."]})
        rrset = self._rrset(domain, subname, rdtype, ttl, records)
        if current is not None:
            rrset["created"] = current["created"]
        domain.rrsets[key] = rrset
        return rrset

    def _rrset(
        self, domain: _Domain, subname: str, rdtype: str, ttl: Any, records: list[Any]
    ) -> dict[str, Any]:
        if rdtype != rdtype.upper() or rdtype in _AUTOMATIC:
            raise _Invalid({"type": [f"You cannot tinker with the {rdtype} RR set. It is "
                                     "managed automatically."]})  # fmt: skip
        if subname != subname.lower() or subname.startswith(".") or "@" in subname:
            raise _Invalid({"subname": [_SUBNAME_RULE]})
        if not isinstance(ttl, int) or ttl < domain.minimum_ttl:
            raise _Invalid({"ttl": [f"Ensure this value is greater than or equal to "
                                    f"{domain.minimum_ttl}."]})  # fmt: skip
        if ttl > 86400:
            raise _Invalid({"ttl": ["Ensure this value is less than or equal to 86400."]})
        stamp = f"2025-10-15T23:{next(self._clock) % 60:02d}:14.754330Z"
        name = f"{subname}.{domain.name}." if subname else f"{domain.name}."
        return {"created": stamp, "domain": domain.name, "subname": subname, "name": name,
                "records": _canonical(rdtype, records), "ttl": ttl, "type": rdtype,
                "touched": stamp}  # fmt: skip


def _canonical(rdtype: str, records: list[Any]) -> list[str]:
    found: list[str] = []
    for text in records:
        try:
            rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, str(text),
                                        origin=dns.name.root, relativize=False)  # fmt: skip
        except (dns.exception.DNSException, ValueError) as exc:
            raise _Invalid({"records": [f"Record content malformed: {exc}"]}) from None
        if rdata.to_text() not in found:
            found.append(rdata.to_text())
    return found


def _under(qname: str, domain: str) -> bool:
    name = qname.rstrip(".").lower()
    return name == domain or name.endswith("." + domain)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o={offset}".encode()).decode()


def _offset(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("o="))
    except ValueError:
        raise _Invalid({"detail": ["Invalid cursor"]}, status=404) from None


def _domain_json(domain: _Domain, *, keys: bool) -> dict[str, Any]:
    """A domain as deSEC shows it (docs/dns/domains.rst); ``keys`` only on the domain itself."""
    found: dict[str, Any] = {"created": _STAMP, "minimum_ttl": domain.minimum_ttl,
                             "name": domain.name, "published": _STAMP,
                             "touched": _STAMP}  # fmt: skip
    if keys:
        found["keys"] = [{"dnskey": "257 3 13 ZmFrZQ==", "ds": ["1 13 2 00"], "flags": 257,
                          "keytype": "csk", "managed": True}]  # fmt: skip
    return found
