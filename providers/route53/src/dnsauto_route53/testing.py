"""A proxy in front of moto (in server mode on 127.0.0.1) that
adds what moto does not do (PENDING changes, GetChange's NoSuchChange, truncated zone listings,
AWS's refusal of a CREATE over an existing RRset and of a DELETE whose values moved) and injects
faults (throttling, refused credentials) in Route 53's own XML: for the plugin's tests and the
benchmark."""

from __future__ import annotations

import itertools
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import aiohttp
from aiohttp import web
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
from moto.route53.models import route53_backends

from dnsauto.testing.fake_http import FakeApi, Fault

KEY_ID = "AKIDROUTE53TEST"
SECRET = "r53-secret-Wq7zXr2p9LkT"
TOKEN = "r53-session-token-Hn4vBq8s"
ZONE = "example.com."
NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"


def error_xml(code: str, message: str) -> str:
    return (
        '<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/'
        f'2013-04-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}'
        "</Message></Error><RequestId>d9642252-1ee9-4442-b5c2-4ee631850496</RequestId>"
        "</ErrorResponse>"
    )


def xml_fault(match: str, code: str, message: str, status: int = 400, **more: Any) -> Fault:
    return Fault(match=match, status=status, body=error_xml(code, message),
                 content_type="text/xml", **more)  # fmt: skip


class Route53Proxy(FakeApi):
    """Forwards to moto; gives each change its own id, PENDING for ``pending_polls`` GetChange
    polls (``insync_at``: the ``time.monotonic()`` each was first reported INSYNC); pages
    ``ListHostedZonesByName`` ``zones_per_page`` at a time, like AWS."""

    def __init__(self, moto: str) -> None:
        super().__init__()
        self.moto = moto
        self.pending_polls = 0
        self.zones_per_page = 100
        self.preconditions = False
        """Refuse stale CREATEs and DELETEs as AWS does (off by default: a large batch's check
        runs beside moto's own work, and the 3,000-record test is near its timeout)."""
        self.polls: dict[str, int] = {}
        self.insync_at: dict[str, float] = {}
        self._ids = itertools.count(1)

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/{tail:.*}", self._forward)

    def operations(self) -> list[str]:
        names = {("GET", "hostedzonesbyname"): "ListHostedZonesByName",
                 ("GET", "rrset"): "ListResourceRecordSets", ("GET", "change"): "GetChange",
                 ("POST", "rrset"): "ChangeResourceRecordSets"}  # fmt: skip
        found = []
        for r in self.requests:
            part = next((p for p in ("hostedzonesbyname", "rrset", "change") if p in r.path), "")
            found.append(names.get((r.method, part), f"{r.method} {r.path}"))
        return found

    async def _forward(self, request: web.Request) -> web.Response:
        change = re.fullmatch(r"/2013-04-01/change/(\w+)", request.path)
        if change:
            return self._get_change(change[1])
        if self.preconditions and request.method == "POST" and request.path.endswith("/rrset/"):
            stale = self._stale(request.path, await request.read())
            if stale:
                body = error_xml("InvalidChangeBatch", f"[{stale}]")
                return web.Response(status=400, text=body, content_type="text/xml")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        zones = request.path.endswith("/hostedzonesbyname")  # moto: all, then paged here
        url = self.moto + (request.path if zones else request.path_qs)
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                url,
                data=await request.read(),
                headers=headers,
            ) as answer,
        ):
            status, text = answer.status, await answer.text()
        if request.method == "POST" and request.path.endswith("/rrset/") and status == 200:
            change_id = f"C{next(self._ids):013d}"
            self.polls[change_id] = self.pending_polls
            text = re.sub(r"<Id>[^<]*</Id>", f"<Id>/change/{change_id}</Id>", text)
            text = text.replace("<Status>INSYNC</Status>", "<Status>PENDING</Status>")
        if zones and status == 200:
            text = self._zone_page(text, request.query)
        return web.Response(status=status, text=text, content_type="text/xml")

    def _stale(self, path: str, body: bytes) -> str:
        """AWS's text for the first CREATE over an existing RRset, or DELETE of one whose TTL or
        values moved, in a ChangeResourceRecordSets body; "" when the batch is current."""
        zone_id = path.split("/")[-3]
        current = rrsets(zone_id)
        deleted: set[tuple[str, str]] = set()
        for change in ET.fromstring(body).iter(f"{NS}Change"):
            action = change.findtext(f"{NS}Action", "")
            rrset = change.find(f"{NS}ResourceRecordSet")
            assert rrset is not None
            key = (rrset.findtext(f"{NS}Name", "").lower(), rrset.findtext(f"{NS}Type", ""))
            what = f"resource record set [name='{key[0]}', type='{key[1]}']"
            sent = (rrset.findtext(f"{NS}TTL", ""),
                    sorted(v.text or "" for v in rrset.iter(f"{NS}Value")))  # fmt: skip
            if action == "CREATE" and key in current and key not in deleted:
                return f"Tried to create {what} but it already exists"
            if action == "DELETE" and key in current and current[key] != sent:
                return f"Tried to delete {what} but the values provided do not match the current"
            if action == "DELETE":
                deleted.add(key)
        return ""

    def _get_change(self, change_id: str) -> web.Response:
        if change_id not in self.polls:
            body = error_xml("NoSuchChange", f"A change with the specified change ID does not "
                             f"exist: {change_id}")  # fmt: skip
            return web.Response(status=404, text=body, content_type="text/xml")
        left = self.polls[change_id]
        self.polls[change_id] = max(0, left - 1)
        status = "PENDING" if left else "INSYNC"
        if not left:
            self.insync_at.setdefault(change_id, time.monotonic())
        body = (
            f'<?xml version="1.0"?>\n<GetChangeResponse xmlns="{NS[1:-1]}"><ChangeInfo>'
            f"<Id>/change/{change_id}</Id><Status>{status}</Status><SubmittedAt>"
            "2026-12-02T12:00:00.000Z</SubmittedAt></ChangeInfo></GetChangeResponse>"
        )
        return web.Response(text=body, content_type="text/xml")

    def _zone_page(self, text: str, query: Any) -> str:
        """AWS's paging of moto's full list: from (dnsname, hostedzoneid), ``zones_per_page``."""
        ET.register_namespace("", NS[1:-1])
        root = ET.fromstring(text)
        zones_el = root.find(f"{NS}HostedZones")
        assert zones_el is not None
        zones = list(zones_el)
        start = 0
        for index, zone in enumerate(zones):
            if zone.findtext(f"{NS}Id", "").endswith("/" + query.get("hostedzoneid", "-")):
                start = index
        end = start + self.zones_per_page
        page, rest = zones[start:end], zones[end:]
        for zone in zones:
            zones_el.remove(zone)
        zones_el.extend(page)
        for tag in ("IsTruncated", "MaxItems", "NextDNSName", "NextHostedZoneId"):
            for old in root.findall(f"{NS}{tag}"):
                root.remove(old)
        ET.SubElement(root, f"{NS}IsTruncated").text = "true" if rest else "false"
        if rest:
            ET.SubElement(root, f"{NS}NextDNSName").text = rest[0].findtext(f"{NS}Name")
            ET.SubElement(root, f"{NS}NextHostedZoneId").text = rest[0].findtext(f"{NS}Id")
        ET.SubElement(root, f"{NS}MaxItems").text = str(self.zones_per_page)
        return ET.tostring(root, encoding="unicode")


def rrsets(zone_id: str) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(name, type): (TTL, sorted values) of every RRset in the zone, read from moto's state in
    this process (its server thread's): a listing over HTTP of a large zone would be slow."""
    zone = route53_backends[DEFAULT_ACCOUNT_ID]["aws"].get_hosted_zone(zone_id)
    return {(str(r.name).lower(), str(r.type)): (str(r.ttl or ""), sorted(
                v if isinstance(v, str) else v["Value"] for v in r.records))
            for r in zone.rrsets}  # fmt: skip
