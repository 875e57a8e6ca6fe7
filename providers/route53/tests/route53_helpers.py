"""Route 53 test fixtures: moto in server mode on 127.0.0.1, and a proxy in front of it that
adds what moto does not do (PENDING changes, GetChange's NoSuchChange, truncated zone listings,
AWS's refusal of a CREATE over an existing RRset and of a DELETE whose values moved) and injects
faults (throttling, refused credentials) in Route 53's own XML."""

from __future__ import annotations

import itertools
import re
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import boto3
import dns.name
import dns.rrset
import pytest
from aiohttp import web
from dnsauto_route53.provider import Route53DnsServer, Route53Provider
from moto.core import DEFAULT_ACCOUNT_ID
from moto.route53.models import route53_backends
from moto.server import ThreadedMotoServer

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeApi, FakeClock, Fault

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


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def aws(url: str) -> Any:
    """A boto3 client straight at moto, for setting up zones and looking at them."""
    return boto3.client("route53", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=KEY_ID, aws_secret_access_key="admin")  # fmt: skip


@pytest.fixture
def moto(moto_server: str) -> Any:
    """moto, emptied, with the hosted zone ``example.com.``; the client has ``.zone_id``."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    client = aws(moto_server)
    client.zone_id = add_zone(client, ZONE)
    return client


def add_zone(client: Any, name: str, *, private: bool = False) -> str:
    options: dict[str, Any] = {"Name": name, "CallerReference": name + str(private)}
    if private:
        options |= {"VPC": {"VPCRegion": "us-east-1", "VPCId": "vpc-1"},
                    "HostedZoneConfig": {"PrivateZone": True, "Comment": ""}}  # fmt: skip
    zone_id: str = client.create_hosted_zone(**options)["HostedZone"]["Id"]
    return zone_id.split("/")[-1]


def rrsets(zone_id: str) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(name, type): (TTL, sorted values) of every RRset in the zone, read from moto's state in
    this process (its server thread's): a listing over HTTP of a large zone would be slow."""
    zone = route53_backends[DEFAULT_ACCOUNT_ID]["aws"].get_hosted_zone(zone_id)
    return {(r.name.lower(), r.type): (str(r.ttl or ""), sorted(
                v if isinstance(v, str) else v["Value"] for v in r.records))
            for r in zone.rrsets}  # fmt: skip


def records(client: Any, zone_id: str) -> dict[tuple[str, str], list[str]]:
    pages = client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return {(r["Name"], r["Type"]): [v["Value"] for v in r.get("ResourceRecords", [])]
            for page in pages for r in page["ResourceRecordSets"]}  # fmt: skip


def served(client: Any, zone_id: str) -> list[dns.rrset.RRset]:
    """What moto holds in the zone, as the zone's nameservers would serve it (names in values
    are absolute, as Route 53 reads them; not the SOA, whose value moto gives as a dict's repr)."""
    pages = client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return [dns.rrset.from_text_list(r["Name"], r["TTL"], "IN", r["Type"],
                                     [v["Value"] for v in r["ResourceRecords"]],
                                     origin=dns.name.root, relativize=False)
            for page in pages for r in page["ResourceRecordSets"]
            if r.get("ResourceRecords") and r["Type"] != "SOA"]  # fmt: skip


@pytest.fixture
async def proxy(moto_server: str, moto: Any) -> AsyncIterator[Route53Proxy]:
    async with Route53Proxy(moto_server) as fake:
        yield fake


def settings(**fields: Any) -> Route53DnsServer:
    return Route53DnsServer.model_validate(
        {
            "@type": "Route53",
            "description": "test",
            "timeout": "5s",
            "accessKeyId": KEY_ID,
            "secretAccessKey": {"@type": "Value", "secret": SECRET},
            "sessionToken": {"@type": "Value", "secret": TOKEN},
            **fields,
        }
    )


def make_provider(url: str, clock: FakeClock | None = None, **fields: Any) -> Route53Provider:
    return Route53Provider(settings(**fields), ProviderContext(server_id="r53"),
                           endpoint_url=url, clock=clock or FakeClock())  # fmt: skip


@pytest.fixture
async def route53(proxy: Route53Proxy) -> AsyncIterator[Route53Provider]:
    provider = make_provider(proxy.base_url)
    yield provider
    await provider.aclose()
