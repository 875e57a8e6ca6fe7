"""What Route 53's tests and the benchmark share: a proxy in front of moto (in server mode) that
adds what moto does not do (PENDING changes, GetChange's NoSuchChange, truncated zone listings),
records every request and injects faults (throttling, refused credentials) in Route 53's own
XML; and the test credentials."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from typing import Any

import aiohttp
from aiohttp import web

from dnsauto.testing.fake_http import FakeApi, Fault

__all__ = ["KEY_ID", "NS", "SECRET", "TOKEN", "ZONE", "Route53Proxy", "error_xml", "xml_fault"]

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
    polls; pages ``ListHostedZonesByName`` ``zones_per_page`` at a time, like AWS."""

    def __init__(self, moto: str) -> None:
        super().__init__()
        self.moto = moto
        self.pending_polls = 0
        self.zones_per_page = 100
        self.polls: dict[str, int] = {}
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

    def _get_change(self, change_id: str) -> web.Response:
        if change_id not in self.polls:
            body = error_xml("NoSuchChange", f"A change with the specified change ID does not "
                             f"exist: {change_id}")  # fmt: skip
            return web.Response(status=404, text=body, content_type="text/xml")
        left = self.polls[change_id]
        self.polls[change_id] = max(0, left - 1)
        status = "PENDING" if left else "INSYNC"
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
